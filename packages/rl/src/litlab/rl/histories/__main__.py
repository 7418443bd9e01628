"""Generate (or resume) an AD-epsilon history set of a grid world, then report its return curves.

    python -m litlab.rl.histories --family darkroom --out data/rl/darkroom-q50 --episodes 2000 \\
        --quality 0.5 --workers 2

`--quality q` calibrates the floor eps_end so that the last 10% of each history earns q x the oracle's
return; `--eps-end` sets it directly. Interrupted runs resume: rerun the same command.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from rich.progress import Progress

from litlab.rl.envs.grid import SPECS, get_spec
from litlab.rl.histories.generate import calibrate_eps_end, generate
from litlab.rl.histories.report import report


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m litlab.rl.histories", description=__doc__.split("\n\n")[0])
    p.add_argument("--family", required=True, choices=sorted(SPECS))
    p.add_argument("--out", required=True, help="output folder (resumed if it holds the same set)")
    p.add_argument("--episodes", type=int, required=True, help="episodes per task N")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--eps-end", type=float, help="the schedule's floor eps_end")
    g.add_argument("--quality", type=float, help="calibrate eps_end to this fraction of the oracle's return")
    p.add_argument("--tasks", choices=("train", "test", "all"), default="all", help="which split gets histories")
    p.add_argument("--max-tasks", type=int, default=None, help="only the first k tasks of the split (tests)")
    p.add_argument("--workers", type=int, default=1, help="parallel CPU processes")
    p.add_argument("--tasks-per-job", type=int, default=8)
    p.add_argument("--chunk-size", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-plot", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    spec = get_spec(args.family)
    split = spec.split()
    tasks = np.concatenate([split["train"], split["test"]]) if args.tasks == "all" else split[args.tasks]
    tasks = sorted(int(t) for t in tasks)[: args.max_tasks]
    eps_end = args.eps_end
    if eps_end is None:
        eps_end = round(calibrate_eps_end(spec, split["train"][:64], args.quality, seed=args.seed), 4)
        print(f"calibrated eps_end = {eps_end} for quality {args.quality}")
    with Progress() as bar:
        job = bar.add_task(f"{args.family}: {args.episodes} episodes x {len(tasks)} tasks", total=len(tasks))
        generate(
            args.out, spec, tasks, args.episodes, eps_end, seed=args.seed, workers=args.workers,
            tasks_per_job=args.tasks_per_job, chunk_size=args.chunk_size,
            progress=lambda done: bar.update(job, completed=done),
        )  # fmt: skip
    summary = report(args.out, plot=not args.no_plot)["summary"]
    print(json.dumps(summary, indent=1))
    if not summary["smooth"]:
        print("warning: some return curves do not rise smoothly (see report.json / return_curves.png)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
