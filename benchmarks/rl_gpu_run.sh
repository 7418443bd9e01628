#!/bin/bash
# One device call for the Flow Q-Learning speed race (benchmarks/rl_fql_jax_race.py): the authors' JAX agent
# (seohongpark/fql @ 719d044, unmodified, carried in the git-ignored .ref/fql; its pure-python deps missing
# from the GPU image carried as wheels in .whl/rl), then litlab's PyTorch agent, then the side-by-side report.
# Usage: bash benchmarks/rl_gpu_run.sh OUTDIR   (with .ref and .whl/rl carried)
set -u
out=${1:-results}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/rlsite .whl/rl/*.whl >/dev/null 2>&1
# litlab.rl's __init__ pulls the data stack (datasets, gymnasium: absent there); the race needs only litlab.rl.fql
mkdir -p /tmp/rlshim/litlab/rl
echo "__path__ = ['$PWD/packages/rl/src/litlab/rl']" > /tmp/rlshim/litlab/rl/__init__.py
export PYTHONPATH=/tmp/rlshim:$PWD/packages/rl/src:/tmp/rlsite PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
race="python3 benchmarks/rl_fql_jax_race.py"
timeout ${JAX_TIMEOUT:-100} $race jax --precisions default highest --budget-s 60 --out "$out/jax.json" ${JAX_ARGS:-} \
  2>&1 | grep -v "^W[0-9]" | tee "$out/jax.log"
timeout ${TORCH_TIMEOUT:-170} $race torch --budget-s ${TORCH_BUDGET:-110} --out "$out/torch.json" ${TORCH_ARGS:-} \
  2>&1 | grep -v "^W[0-9]" | tee "$out/torch.log"
$race report "$out/jax.json" "$out/torch.json" | tee "$out/report.txt"
