#!/bin/bash
# One device call for litlab.robotics: FAST encode/decode speed on the CPU and on the GPU (quiet machine,
# first), then the spline toy (experiment 2: both arms x T in 25..800, all twelve runs at once on the one
# GPU) with the GPU tests alongside. Usage: bash benchmarks/robotics/robotics_gpu_run.sh OUTDIR
# Env: STEPS (6000), BATCH (64), N_TRAIN (20000), SPLINE_TIMEOUT (s, 170), SPEED_ARGS, DEVICES (cpu cuda),
# ACCEL (gpu; cpu for a dry run here), TOKENIZERS ("binning fast"), HORIZONS ("25 50 100 200 400 800"), SKIP_SPEED=1.
# Finishing only the heaviest arm, for example: TOKENIZERS=binning HORIZONS="400 800" SKIP_SPEED=1 SPLINE_TIMEOUT=420
set -u
out=${1:-results}
steps=${STEPS:-6000}
mkdir -p "$out/spline"
# the packages' __init__s resolve their names lazily (litlab.shared.lazy): the tokenizers and the spline toy
# import without datasets/gymnasium, which the GPU image lacks (tests/test_light_imports.py checks it)
export PYTHONPATH=$PWD/shared/src:$PWD/packages/robotics/src:$PWD/packages/attention/src PYTHONUNBUFFERED=1
export RAYON_NUM_THREADS=2 NUMBA_CACHE_DIR=/tmp/numba_cache
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python3 -c "import torch, numpy, numba, tokenizers, lightning; print('torch', torch.__version__, 'numpy', \
numpy.__version__, 'numba', numba.__version__, 'tokenizers', tokenizers.__version__, 'lightning', lightning.__version__)"
  lscpu | grep -m1 'Model name'
} 2>&1 | tee "$out/env.txt"

[[ -n ${SKIP_SPEED:-} ]] || timeout 70 python3 benchmarks/robotics/robotics_speed.py --devices ${DEVICES:-cpu cuda} ${SPEED_ARGS:---chunks 5000 --reps 7} \
  --append "$out/speed.md" 2>&1 | grep -v Warning | tee "$out/speed.log"

for tok in ${TOKENIZERS:-binning fast}; do
  for t in ${HORIZONS:-25 50 100 200 400 800}; do
    timeout "${SPLINE_TIMEOUT:-170}" python3 benchmarks/robotics/robotics_spline_toy.py --accelerator "${ACCEL:-gpu}" --tokenizer $tok \
      --horizons $t --steps "$steps" --eval-every $((steps / 4)) --batch-size "${BATCH:-64}" --warmup 200 \
      --n-train "${N_TRAIN:-20000}" --out "$out/spline" >"$out/spline/log_${tok}_T$t.txt" 2>&1 &
  done
done
timeout 120 python3 -m pytest -p no:cacheprovider packages/robotics/tests/test_gpu.py -q 2>&1 | tee "$out/gpu_tests.log" | tail -3
wait
python3 benchmarks/robotics/robotics_spline_toy.py --report --out "$out/spline" --plot "$out/spline_toy.png" | tee "$out/spline_report.md"
tar czf "$out/spline_runs.tgz" -C "$out" spline && rm -rf "$out/spline"
