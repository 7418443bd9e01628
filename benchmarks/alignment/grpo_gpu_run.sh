#!/bin/bash
# One device call for the GRPO rollout-speed benchmark (benchmarks/alignment/grpo_rollout_speed.py) with TRL's
# wheels carried in .whl/grpo (trl, datasets, dill, multiprocess; the image has transformers, accelerate,
# pyarrow); litlab's sources are used as they are.
# Usage: bash benchmarks/alignment/grpo_gpu_run.sh OUTDIR [benchmark args]
set -u
out=${1:-results}; shift || true
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/grposite .whl/grpo/*.whl >/dev/null 2>&1
export PYTHONPATH=$PWD/packages/alignment/src:$PWD/packages/attention/src:$PWD/shared/src:/tmp/grposite PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader
python3 -c "import torch, triton, transformers; print('torch', torch.__version__, 'triton', triton.__version__, 'transformers', transformers.__version__)"
python3 -c "import trl, datasets; print('trl', trl.__version__, 'datasets', datasets.__version__)" 2>&1 | tail -1
timeout ${BENCH_TIMEOUT:-180} python3 benchmarks/alignment/grpo_rollout_speed.py --out "$out/grpo_rollout_speed.jsonl" "$@" 2>&1 \
  | grep -v -i -E "warning|Loading weights|Writing model" | tee "$out/bench.log"
