#!/bin/bash
# One device call for the attention LMs: the training-throughput benchmark (litlab lightning LM eager and
# compiled with profiles, fla RetNet, HF Llama SDPA, litlab softmax LM), then the GPU tests of the LM
# stack with what time is left. Wheels of fla are carried in .whl/lm.
# Usage: bash benchmarks/lm_gpu_run.sh OUTDIR [BENCH_SECONDS] [TEST_SECONDS]
set -u
out=${1:-results}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/lmsite .whl/lm/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/lmsite:$PWD/packages/attention/src:$PWD/shared/src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/lm_env.txt"
python3 -c "import torch, triton, transformers, fla; print('torch', torch.__version__, 'triton', triton.__version__,
 'transformers', transformers.__version__, 'fla', fla.__version__)" 2>&1 | grep -v Warn | tee -a "$out/lm_env.txt"
timeout "${2:-220}" python3 benchmarks/lm_throughput.py --warmup 3 --steps 10 --profile 4096 --out "$out" \
  --models litlab-lightning-eager litlab-lightning fla-retnet hf-llama-sdpa litlab-softmax 2>&1 \
  | grep -v -i warn | tee "$out/lm_throughput.log"
timeout "${3:-40}" python3 -m pytest -p no:cacheprovider packages/attention/tests/test_lm_gpu.py -q -x 2>&1 \
  | tee "$out/lm_gpu_tests.log" | tail -5
python3 benchmarks/lm_throughput.py --report "$out/lm_throughput.jsonl"
