"""Flow Q-Learning update speed, side by side: the authors' JAX agent against litlab's PyTorch agent.

FQL: Park, Li, Levine, arXiv 2502.02538 (Algorithm 1). The JAX side imports ``agents/fql.py`` of
``seohongpark/fql`` @ 719d044, unmodified, from a folder given by ``--ref`` (not part of litlab), and times its
jitted ``FQLAgent.update``. The PyTorch side times ``litlab.rl.fql.train_step`` eagerly, as one CUDA graph,
under ``torch.compile`` and as a CUDA graph of the compiled step. Both: the same network sizes (4x512 GELU
MLPs; 2 critics with LayerNorm + their targets; flow field; one-step policy), 10 Euler steps, batch 256,
one Adam over the trained modules, Polyak tau 0.005, random data (obs 17, action 6: HalfCheetah/Walker2d
sizes). Each step samples its batch from a GPU-resident 1M-transition dataset on the device (a jitted
gather in JAX, ``randint`` + index in PyTorch). Reported: the median steps/s over ``--repeats`` windows of
``--steps`` steps, after compilation and warm-up. Run each side in its own process (one GPU call):

    bash benchmarks/rl_gpu_run.sh OUTDIR     # on the GPU machine: jax, then torch, then the report
    python benchmarks/rl_fql_jax_race.py jax --ref REF --count-only   # (or torch) the work check alone, CPU

Both sides first count their work: every matrix product of one update (forward and backward; PyTorch
through a dispatch mode on CPU tensors, JAX from the traced program) with its FLOPs, and the parameters of
each network; ``report`` prints them next to each other.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np


def timed_windows(step, sync, warmup: int, steps: int, repeats: int) -> dict:
    """Run ``step()`` ``warmup`` times, then ``repeats`` windows of ``steps``; ``sync()`` waits for the device."""
    for _ in range(warmup):
        step()
    sync()
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        rates.append(steps / (time.perf_counter() - t0))
    return {"steps_per_s": statistics.median(rates), "min": min(rates), "max": max(rates), "rates": rates}


def random_dataset(args) -> dict[str, np.ndarray]:
    """Random float32 transitions in the D4RL layout (the values do not change the work)."""
    rng = np.random.default_rng(0)
    n = args.dataset
    return {
        "observations": rng.standard_normal((n, args.obs), dtype=np.float32),
        "actions": rng.uniform(-1, 1, (n, args.act)).astype(np.float32),
        "rewards": rng.standard_normal(n, dtype=np.float32),
        "masks": np.ones(n, np.float32),
        "next_observations": rng.standard_normal((n, args.obs), dtype=np.float32),
    }


def report(paths: list[str]) -> None:
    rows, env = [], {}
    for p in paths:
        if not Path(p).is_file():
            print(f"(missing {p})")
            continue
        r = json.load(open(p))
        env[r["framework"]] = r.get("env")
        print(f"work of one update, {r['framework']}: {json.dumps(r['work'])}")
        rows += [dict(row, framework=r["framework"]) for row in r["rows"]]
    print(json.dumps(env))
    jax_rate = next((r["steps_per_s"] for r in rows if r["framework"] == "jax" and "steps_per_s" in r), None)
    print(f"{'framework':>9} {'mode':>24} {'steps/s':>8} {'min':>8} {'max':>8} {'vs JAX':>7} {'first call s':>12}")
    for r in rows:
        if "steps_per_s" not in r:
            print(f"{r['framework']:>9} {r['mode']:>24}  {r.get('error', r.get('skipped', '?'))[:200]}")
            continue
        vs = f"{r['steps_per_s'] / jax_rate:6.2f}x" if jax_rate else "-"
        print(
            f"{r['framework']:>9} {r['mode']:>24} {r['steps_per_s']:8.1f} {r['min']:8.1f} {r['max']:8.1f} "
            f"{vs:>7} {r.get('first_call_s', float('nan')):12.1f}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["jax", "torch", "report"])
    p.add_argument("files", nargs="*", help="report: the JSON files of the jax and torch runs")
    p.add_argument("--ref", default=".ref/fql", help="folder holding the authors' agents/ and utils/")
    p.add_argument("--obs", type=int, default=17)
    p.add_argument("--act", type=int, default=6)
    p.add_argument("--hidden", type=int, nargs="+", default=[512] * 4)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--flow-steps", type=int, default=10)
    p.add_argument("--dataset", type=int, default=1_000_000, help="transitions of the GPU-resident dataset")
    p.add_argument("--steps", type=int, default=200, help="steps per timed window")
    p.add_argument("--repeats", type=int, default=7, help="timed windows; the median is reported")
    p.add_argument("--warmup", type=int, default=50, help="untimed steps after compilation")
    p.add_argument("--modes", nargs="+", default=None, help="torch: modes to run (default: all, in order)")
    p.add_argument("--precisions", nargs="+", default=["default"], help="jax: matmul precisions to run")
    p.add_argument("--budget-s", type=float, default=1e9, help="skip the remaining modes after this long")
    p.add_argument("--device", default="cuda", help="torch: 'cuda', or 'cpu' for a smoke test")
    p.add_argument("--count-only", action="store_true", help="count the work of one update, time nothing")
    p.add_argument("--out", default=None, help="write the results as JSON here (after every row)")
    args = p.parse_args()
    if args.what == "report":
        return report(args.files)
    if args.what == "jax":  # each framework in its own process: import only that one
        from rl_fql_race_jax import run_jax as run
    else:
        from rl_fql_race_torch import run_torch as run
    run(args, random_dataset(args), timed_windows)


if __name__ == "__main__":
    main()
