#!/bin/bash
# One device call for the attention LMs: GPU tests of the LM stack, then the training-throughput benchmark
# against fla RetNet and HF Llama (wheels carried in .whl/lm). Usage: bash benchmarks/lm_gpu_run.sh OUTDIR
set -u
out=${1:-results}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/lmsite .whl/lm/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/lmsite:$PWD/packages/attention/src:$PWD/shared/src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
timeout 80 python3 -m pytest -p no:cacheprovider packages/attention/tests/test_lm_gpu.py -q -x 2>&1 \
  | tee "$out/lm_gpu_tests.log" | tail -15
timeout 200 python3 benchmarks/lm_throughput.py --warmup 2 --steps 4 --out "$out" 2>&1 | grep -v Warning \
  | tee "$out/lm_throughput.log"
