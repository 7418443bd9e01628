#!/bin/bash
# One device call for the TinyVLA experiments 1 and 3: demo pools at 10/25/50/100 Hz (in parallel), the
# speed benchmark on the quiet device, then all rate x arm x seed runs at once on the one GPU, each with
# the same wall-clock training budget. Usage: bash benchmarks/robotics/vla_gpu_run.sh OUTDIR
# Env: RATES ("10 25 50 100"), ARMS ("fast binning flow"), SEEDS ("0 1 2"), EPISODES (500 demos per rate),
# TRAIN_S (90, training seconds per run; at most 6000 steps), BATCH (128), EVAL_EPISODES (50), WORKERS (4 per rate),
# SPEED_ARGS, SWEEP_ARGS, SKIP_SPEED=1. Run JSONs and logs end up in OUTDIR/vla_runs.tgz. Needs the gymnasium wheels in .whl/ (carried). The report is made afterwards:
#   python benchmarks/robotics/vla_sweep.py --report OUTDIR/runs --plot packages/robotics/docs/vla_rate_sweep.png
set -u
out=${1:-results}
mkdir -p "$out/pools" "$out/runs" "$out/logs" /tmp/vshim/litlab/attention
# litlab.attention's __init__ pulls the text-data stack (not on the GPU image); the VLA needs only Backbone
cat >/tmp/vshim/litlab/attention/__init__.py <<EOF
__path__ = ["$PWD/packages/attention/src/litlab/attention"]
from litlab.attention.models import Backbone, BackboneConfig, BackboneState
EOF
if ls .whl/gymnasium-*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target .gpusite .whl/gymnasium-*.whl \
    .whl/cloudpickle-*.whl .whl/Farama_Notifications-*.whl 2>&1 | tail -2
fi
export PYTHONPATH=/tmp/vshim:$PWD/.gpusite:$PWD/packages/robotics/src:$PWD/packages/attention/src:$PWD/shared/src
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 NUMBA_CACHE_DIR=/tmp/numba_cache
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU"
  python3 -c "import torch, numpy, lightning; print('python', __import__('sys').version.split()[0], 'torch', \
torch.__version__, 'numpy', numpy.__version__, 'lightning', lightning.__version__)"
  lscpu | grep -m1 'Model name'
} 2>&1 | tee "$out/env.txt"

rates=${RATES:-10 25 50 100}
t0=$SECONDS
for r in $rates; do
  python3 benchmarks/robotics/vla_pool.py --rates "$r" --episodes "${EPISODES:-500}" --workers "${WORKERS:-4}" \
    --out "$out/pools" >"$out/logs/pool_$r.txt" 2>&1 &
done
wait
cat "$out"/logs/pool_*.txt | grep Hz | tee "$out/pools.txt"
echo "pools: $((SECONDS - t0)) s"

speed_pool="$out/pools/pool_50hz.pt"
[[ -f $speed_pool ]] || speed_pool=$(ls "$out"/pools/*.pt | head -1)
if [[ -z ${SKIP_SPEED:-} ]]; then
  timeout 40 python3 benchmarks/robotics/vla_speed.py --pool "$speed_pool" --batch-size "${BATCH:-128}" \
    ${SPEED_ARGS:-} 2>&1 | grep -v Warning | tee "$out/speed.md"
fi

t0=$SECONDS
for r in $rates; do
  for arm in ${ARMS:-fast binning flow}; do
    for s in ${SEEDS:-0 1 2}; do
      timeout $(( ${TRAIN_S:-90} + 60 )) python3 benchmarks/robotics/vla_sweep.py --pool "$out/pools/pool_${r}hz.pt" \
        --arm "$arm" --seed "$s" --steps 6000 --warmup 150 --max-seconds "${TRAIN_S:-90}" --batch-size "${BATCH:-128}" \
        --episodes "${EVAL_EPISODES:-50}" --out "$out/runs" ${SWEEP_ARGS:-} >"$out/logs/run_${r}hz_${arm}_s$s.txt" 2>&1 &
    done
  done
done
wait
echo "sweep: $((SECONDS - t0)) s"
grep -h success "$out"/logs/run_*.txt | tee "$out/summary.txt"
tar czf "$out/vla_runs.tgz" -C "$out" runs logs && rm -rf "$out/runs" "$out/logs" "$out/pools"
