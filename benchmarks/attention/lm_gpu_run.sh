#!/bin/bash
# One device call for the attention LMs (experiment 1): the training-throughput benchmark with fla RetNet
# and HF Llama SDPA first, then the litlab lightning LM (compiled, with a profile), the lightning LM at fla
# RetNet's sizes (-matched) and the litlab softmax LM (MODELS="a b ..." picks others, e.g.
# litlab-lightning-eager); then the GPU tests of the LM stack. Each model runs in its own process with its
# own time limit, so one that stalls cannot take the others' rows.
# Wheels of fla are carried in .whl/lm.   Usage: bash benchmarks/attention/lm_gpu_run.sh OUTDIR [SECONDS_PER_MODEL]
set -u
out=${1:-results}
per=${2:-60}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/lmsite .whl/lm/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/lmsite:$PWD/packages/attention/src:$PWD/shared/src PYTHONUNBUFFERED=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1  # nothing outside the machine can be reached
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/lm_env.txt"
python3 -c "import torch, triton, transformers, fla; print('torch', torch.__version__, 'triton', triton.__version__,
 'transformers', transformers.__version__, 'fla', fla.__version__)" 2>&1 | grep -v -i warn | tee -a "$out/lm_env.txt"
for model in ${MODELS:-fla-retnet hf-llama-sdpa litlab-lightning litlab-lightning-matched litlab-softmax}; do
  timeout "$per" python3 benchmarks/attention/lm_throughput.py --warmup 3 --steps 10 --profile 4096 --out "$out" \
    --models "$model" 2>&1 | grep --line-buffered -v -i warn | tee -a "$out/lm_throughput.log"
done
timeout 90 python3 -m pytest -p no:cacheprovider packages/attention/tests/test_lm_gpu.py -q -x 2>&1 \
  | tee "$out/lm_gpu_tests.log" | tail -5
python3 benchmarks/attention/lm_throughput.py --report "$out/lm_throughput.jsonl"
