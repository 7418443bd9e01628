#!/bin/bash
# One device call for the alignment log-prob benchmark (benchmarks/alignment/alignment_logprobs.py) with the Liger-Kernel
# wheel carried in .whl/align (litlab.alignment imports without datasets, jsonargparse: the sources are used as
# they are).
# Usage: bash benchmarks/alignment/alignment_gpu_run.sh OUTDIR [benchmark args]
set -u
out=${1:-results}; shift || true
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/alsite .whl/align/*.whl >/dev/null 2>&1
export PYTHONPATH=$PWD/packages/alignment/src:$PWD/packages/attention/src:$PWD/shared/src:/tmp/alsite PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
python3 - <<'PY'  # does the fp32-accumulating GEMM used for dW work in place here? (else a temporary is used)
import torch
a, b = torch.randn(64, 32, device="cuda").bfloat16(), torch.randn(32, 48, device="cuda").bfloat16()
acc = torch.randn(64, 48, device="cuda")
ref = acc + a.float() @ b.float()
try:
    out = torch.addmm(acc, a, b, out_dtype=torch.float32, out=acc)
    print("addmm out_dtype in place:", out.data_ptr() == acc.data_ptr(), "max err", (acc - ref).abs().max().item())
except Exception as exc:
    print("addmm out_dtype in place: unsupported:", exc)
PY
timeout ${BENCH_TIMEOUT:-170} python3 benchmarks/alignment/alignment_logprobs.py --out "$out/alignment_logprobs.json" "$@" 2>&1 \
  | grep -v Warning | tee "$out/bench.log"
