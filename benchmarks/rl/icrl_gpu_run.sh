#!/bin/bash
# One device call for the in-context RL experiments 1, 2 and 5 (benchmarks/rl/icrl_experiments.py, then
# benchmarks/rl/icrl_speed.py). The GPU image lacks gymnasium: its wheels travel in .whl/ (git-ignored):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl \
#     gymnasium==1.4.0 cloudpickle==3.1.1 Farama_Notifications==0.0.4
# Usage: bash benchmarks/rl/icrl_gpu_run.sh OUTDIR [extra icrl_experiments.py arguments]
set -u
out=${1:-results}
shift || true
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/icrlsite \
  .whl/gymnasium-1.4.0-py3-none-any.whl .whl/cloudpickle-3.1.1-py3-none-any.whl \
  .whl/Farama_Notifications-0.0.4-py3-none-any.whl >/dev/null 2>&1
export PYTHONPATH=$PWD/packages/rl/src:$PWD/packages/attention/src:$PWD/shared/src:/tmp/icrlsite PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
python3 benchmarks/rl/icrl_speed.py --lengths ${SPEED_LENGTHS:-256 4096 65536} --steps 30 --reps 3 \
  --out "$out/icrl_speed.json"
python3 benchmarks/rl/icrl_experiments.py --out "$out" --data /tmp/icrl_data "$@"
cp /tmp/icrl_data/darkroom/return_curves.png "$out/icrl_darkroom_histories.png" 2>/dev/null || true
