#!/bin/bash
# One device call for the attention kernels: install the side-by-side wheels (carried in .whl/attn), then any
# of: a launch-configuration sweep, the GPU tests of the ops, the profile, the benchmark.
# Usage: bash benchmarks/attention/attention_gpu_run.sh OUTDIR [STEPS], STEPS a comma list of grid,sweep,tests,bench,profile,ncu
# (default: tests,bench,profile). ncu reads the hardware counters of the cases in NCU_CASES (lines "name set args",
# set = sections or full; args go to attention_ncu.py) into OUTDIR/ncu_NAME.txt (full: also the SASS source page). grid (the forward's plan x launch grid at long T) and sweep write
# OUTDIR/best_config.json and the later steps use it.
#   LA_CONFIG=file.json replaces the GPU's default launch configuration for everything run here (KernelConfig
#   fields; launch options as {"num_warps": .., "num_stages": ..}). A copy of an earlier litlab.attention.ops
#   carried as .whl/old/litlab_old_ops is timed beside the current one (provider litlab-old).
set -u
out=${1:-results}; what=${2:-tests,bench,profile}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/attn/*.whl >/dev/null 2>&1
# every python step runs through launch_env.py, which applies LA_CONFIG (when set) before the step
py="python3 benchmarks/attention/launch_env.py"
export PYTHONPATH=$PWD/packages/attention/src:$PWD/shared/src:/tmp/site:$PWD/.whl/old PYTHONUNBUFFERED=1
[[ -d .whl/old/litlab_old_ops ]] && export LITLAB_OLD_OPS=litlab_old_ops
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader
has() { [[ ,$what, == *,$1,* ]]; }
if has grid; then
  timeout ${GRID_TIMEOUT:-240} $py benchmarks/attention/attention_fwd_grid.py --out "$out" ${GRID_ARGS:-} 2>&1 | tee "$out/grid.log"
  [[ -f $out/best_config.json ]] && export LA_CONFIG=$out/best_config.json
fi
if has sweep; then
  timeout ${SWEEP_TIMEOUT:-300} $py benchmarks/attention/attention_sweep.py --out "$out" ${SWEEP_ARGS:-} 2>&1 | tee "$out/sweep.log"
  [[ -f $out/best_config.json ]] && export LA_CONFIG=$out/best_config.json
fi
T=packages/attention/tests
tests=($T/test_ops_triton.py $T/test_ops_gpu.py)
if [[ ${TEST_SET:-all} == short ]]; then  # the cases a kernel or launch change can break, in a few minutes
  tests=()
  for c in 128-128-4096 128-60-4096 64-64-4096 16-16-1000 192-192-1000 256-256-1000 32-256-1000; do
    tests+=("$T/test_ops_gpu.py::test_bf16_matches_naive[$c]")
  done
  tests+=($T/test_ops_gpu.py::test_fp32_ieee_and_segments_match_torch_float64 $T/test_ops_gpu.py::test_varlen_bf16_matches_naive
    $T/test_ops_gpu.py::test_decode_after_prefill_equals_one_prefill_bf16 $T/test_ops_triton.py::test_triton_fp32_matches_naive
    $T/test_ops_triton.py::test_triton_dkdv_kernels_and_other_tiles_match_naive
    $T/test_ops_gpu.py::test_one_million_tokens_steep_decay_is_finite_and_right)
fi
if [[ -n ${TEST_IDS:-} ]]; then  # TEST_IDS="file.py::name file.py::name[case] ...": just these
  tests=(); for id in $TEST_IDS; do tests+=("$T/$id"); done
fi
if has tests; then
  timeout ${TEST_TIMEOUT:-300} $py -m pytest -p no:cacheprovider "${tests[@]}" -q -rf ${TEST_ARGS:-} --durations=8 \
    2>&1 | tee "$out/tests.log" | tail -40
fi
if has bench; then
  timeout ${BENCH_TIMEOUT:-420} $py benchmarks/attention/attention_kernels.py --out "$out" ${BENCH_ARGS:-} 2>&1 | tee "$out/bench.log"
fi
if has ncu; then
  NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  cases=${NCU_CASES:-"fwd8k sections --t 8192
fwd32k sections --t 32768"}
  sec="--section SpeedOfLight --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis --section Occupancy
    --section LaunchStats --section WarpStateStats --section SchedulerStats"
  met="--metrics dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,lts__t_bytes.sum,l1tex__t_bytes.sum"
  while read -r name set args; do
    [[ -z $name ]] && continue
    base=($NCU --clock-control none --nvtx --nvtx-include prof/ --target-processes all)
    run=($py benchmarks/attention/attention_ncu.py $args)
    if [[ $set == full ]]; then
      timeout ${NCU_TIMEOUT:-240} "${base[@]}" --set full --import-source no -f -o "$out/ncu_$name" "${run[@]}" \
        > "$out/ncu_$name.log" 2>&1
      "$NCU" -i "$out/ncu_$name.ncu-rep" --page details > "$out/ncu_$name.txt" 2>&1
      "$NCU" -i "$out/ncu_$name.ncu-rep" --page source --print-source sass --csv > "$out/ncu_${name}_sass.csv" 2>&1
      rm -f "$out/ncu_$name.ncu-rep"
    else
      timeout ${NCU_TIMEOUT:-240} "${base[@]}" $sec $met "${run[@]}" > "$out/ncu_$name.txt" 2>&1 ||
        timeout ${NCU_TIMEOUT:-240} "${base[@]}" $sec "${run[@]}" > "$out/ncu_$name.txt" 2>&1
    fi
    echo "ncu $name: $(grep -c 'Duration' "$out/ncu_$name.txt") kernels profiled"
  done <<< "$cases"
fi
if has profile; then
  timeout ${PROFILE_TIMEOUT:-100} $py benchmarks/attention/attention_profile.py ${PROFILE_ARGS:-} 2>&1 | tee "$out/profile.log"
fi
