#!/bin/bash
# One device call for the Flow Q-Learning speed race (benchmarks/rl/rl_fql_race.py): the authors' JAX agent
# (seohongpark/fql @ 719d044, unmodified, carried in the git-ignored .ref/fql; its pure-python deps missing
# from the GPU image carried as wheels in .whl/rl), then litlab's PyTorch agent, then the side-by-side report.
# Usage: bash benchmarks/rl/rl_gpu_run.sh OUTDIR   (with .ref and .whl/rl carried)
# Prepare once, beside the repository: the authors' code at the measured commit, git-ignored, and the wheels
#   git -C <a clone of seohongpark/fql> archive 719d044 agents utils | tar -x -C .ref/fql
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 -d .whl/rl ml_collections==1.1.0 distrax==0.1.9 \
#     tfp-nightly==0.26.0.dev20261027 dm-tree==0.1.10 gast==0.7.0 decorator==5.3.1
set -u
out=${1:-results}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/rlsite .whl/rl/*.whl >/dev/null 2>&1
# litlab.rl resolves its names lazily: litlab.rl.fql imports without gymnasium (absent there)
export PYTHONPATH=$PWD/packages/rl/src:$PWD/packages/attention/src:$PWD/shared/src:/tmp/rlsite PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
race="python3 benchmarks/rl/rl_fql_race.py"
timeout ${JAX_TIMEOUT:-100} $race jax --precisions default highest --budget-s 60 --out "$out/jax.json" ${JAX_ARGS:-} \
  2>&1 | grep -v "^W[0-9]" | tee "$out/jax.log"
timeout ${TORCH_TIMEOUT:-170} $race torch --budget-s ${TORCH_BUDGET:-110} --out "$out/torch.json" ${TORCH_ARGS:-} \
  2>&1 | grep -v "^W[0-9]" | tee "$out/torch.log"
$race report "$out/jax.json" "$out/torch.json" | tee "$out/report.txt"
