#!/bin/bash
# One device call for the attention kernels: install the side-by-side wheels (carried in .whl/attn), then any
# of: a launch-configuration sweep, the GPU tests of the ops, the profile, the benchmark.
# Usage: bash benchmarks/attention_gpu_run.sh OUTDIR [tests|bench|all|sweep]
#   sweep = sweep (writes OUTDIR/best_config.json), then the GPU tests with that configuration.
#   LA_CONFIG=file.json applies a configuration (triton_config.CONFIG keys) to everything run here.
set -u
out=${1:-results}; what=${2:-all}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/attn/*.whl >/dev/null 2>&1
# litlab.attention's __init__ pulls the LM stack (datasets, ...); the kernels need only litlab.attention.ops
mkdir -p /tmp/shim/litlab/attention
cat > /tmp/shim/litlab/attention/__init__.py <<EOF
import json, os
__path__ = ['$PWD/packages/attention/src/litlab/attention']
if os.environ.get("LA_CONFIG"):
    from litlab.attention.ops import triton_config
    triton_config.CONFIG.update(json.load(open(os.environ["LA_CONFIG"])))
EOF
export PYTHONPATH=/tmp/shim:$PWD/packages/attention/src:/tmp/site PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader
if [[ $what == sweep ]]; then
  timeout ${SWEEP_TIMEOUT:-300} python3 benchmarks/attention_sweep.py --out "$out" ${SWEEP_ARGS:-} 2>&1 | tee "$out/sweep.log"
  [[ -f $out/best_config.json ]] && export LA_CONFIG=$out/best_config.json
fi
if [[ $what != bench ]]; then
  timeout ${TEST_TIMEOUT:-300} python3 -m pytest -p no:cacheprovider ${TEST_FILES-packages/attention/tests/test_ops_triton.py} \
    packages/attention/tests/test_ops_gpu.py -q ${TEST_ARGS:-} --durations=8 2>&1 | tee "$out/tests.log" | tail -40
fi
if [[ $what == all || $what == bench ]]; then
  [[ $what == all ]] && timeout 100 python3 benchmarks/attention_profile.py 2>&1 | tee "$out/profile.log"
  timeout ${BENCH_TIMEOUT:-420} python3 benchmarks/attention_kernels.py --out "$out" ${BENCH_ARGS:-} 2>&1 | tee "$out/bench.log"
fi
