#!/bin/bash
# One device call for the attention kernels: install the side-by-side wheels (carried in .whl/attn), run the
# GPU tests of the ops, profile, then the benchmark. Usage: bash benchmarks/attention_gpu_run.sh OUTDIR [tests|bench|all]
set -u
out=${1:-results}; what=${2:-all}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/attn/*.whl >/dev/null 2>&1
# litlab.attention's __init__ pulls the LM stack (datasets, ...); the kernels need only litlab.attention.ops
mkdir -p /tmp/shim/litlab/attention
echo "__path__ = ['$PWD/packages/attention/src/litlab/attention']" > /tmp/shim/litlab/attention/__init__.py
export PYTHONPATH=/tmp/shim:$PWD/packages/attention/src:/tmp/site PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader
if [[ $what != bench ]]; then
  timeout ${TEST_TIMEOUT:-300} python3 -m pytest -p no:cacheprovider ${TEST_FILES-packages/attention/tests/test_ops_triton.py} \
    packages/attention/tests/test_ops_gpu.py -q ${TEST_ARGS:-} --durations=8 2>&1 | tee "$out/tests.log" | tail -40
fi
if [[ $what != tests ]]; then
  [[ $what == all ]] && timeout 100 python3 benchmarks/attention_profile.py 2>&1 | tee "$out/profile.log"
  timeout ${BENCH_TIMEOUT:-420} python3 benchmarks/attention_kernels.py --out "$out" ${BENCH_ARGS:-} 2>&1 | tee "$out/bench.log"
fi
