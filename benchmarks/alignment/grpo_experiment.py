"""GRPO experiment 1: held-out greedy accuracy and format reward against steps, several seeds, two starts.

`run` launches, for each start checkpoint (SFT, SMPO) and seed, `litlab validate` (the start's step-0 point)
and `litlab fit` of configs/alignment/grpo.yaml with the given overrides (run names grpo-<start>-s<seed>),
at most `--parallel` at a time; `report` reads their metrics.csv files and writes a PNG of val/accuracy and
val/rewards/strict_format/mean against steps (one line per seed, mean in bold) and a markdown table.

    python benchmarks/alignment/grpo_experiment.py run --seeds 0 1 2 -- --trainer.max_steps=40
    python benchmarks/alignment/grpo_experiment.py report --out benchmarks/alignment/grpo_experiment
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
from pathlib import Path

LITLAB = str(Path(sys.executable).parent / "litlab")  # the litlab CLI of this interpreter's environment
STARTS = {"sft": "runs/sft-reasoning/version_0/checkpoints/last.ckpt",
          "smpo": "runs/smpo-reasoning/version_0/checkpoints/last.ckpt"}  # fmt: skip
BASE = ["--config", "configs/trainer/cpu.yaml", "--config", "configs/alignment/grpo.yaml",
        "--trainer.enable_progress_bar=false"]  # fmt: skip
STRICT = "val/rewards/strict_format/mean"
METRICS = {"val/accuracy": "held-out greedy accuracy", STRICT: "strict format reward"}


def commands(start: str, seed: int, extra: list[str]) -> list[list[str]]:
    ckpt = f"--model.init_args.policy.init_args.checkpoint={STARTS[start]}"
    name = f"grpo-{start}-s{seed}"
    val = [LITLAB, "validate", *BASE, ckpt, f"--run_name={name}-start", *extra]
    fit = [LITLAB, "fit", *BASE, ckpt, f"--run_name={name}", f"--seed_everything={seed}", *extra]
    return [val, fit]


def run(args) -> None:
    jobs = [(f"grpo-{s}-s{seed}", commands(s, seed, args.extra)) for s in args.starts for seed in args.seeds]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    running: list[subprocess.Popen] = []
    Path("runs").mkdir(exist_ok=True)
    for name, job in jobs:
        while len(running) >= args.parallel:
            running.pop(0).wait()
        script = " && ".join(" ".join(c) for c in job)
        print(script, flush=True)
        log = open(Path("runs") / f"{name}.log", "w")
        running.append(subprocess.Popen(["nice", "-n", "10", "bash", "-c", script], stdout=log, stderr=log, env=env))
    for p in running:
        p.wait()


def read_curve(folder: Path, metric: str) -> dict[int, float]:
    files = sorted(folder.glob("version_*/metrics.csv"))
    if not files:
        return {}
    rows = list(csv.DictReader(open(files[-1])))
    return {int(r["step"]) + 1: float(r[metric]) for r in rows if r.get(metric)}


def curves(start: str, seeds: list[int], metric: str) -> dict[int, dict[int, float]]:
    """{seed: {step: value}}; step 0 is the start checkpoint's validation."""
    out = {}
    for seed in seeds:
        points = read_curve(Path("runs") / f"grpo-{start}-s{seed}", metric)
        begin = read_curve(Path("runs") / f"grpo-{start}-s{seed}-start", metric)
        if points:
            out[seed] = {0: next(iter(begin.values()))} if begin else {}
            out[seed].update(points)
    return out


def report(args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    lines = ["| start | seed | accuracy at step 0 | final | best | strict format final |", "|---|---|---|---|---|---|"]
    for ax, (metric, label) in zip(axes, METRICS.items()):
        for start, colour in zip(args.starts, ("tab:blue", "tab:orange")):
            per_seed = curves(start, args.seeds, metric)
            for c in per_seed.values():
                ax.plot(list(c), list(c.values()), color=colour, alpha=0.35, lw=1)
            steps = sorted(set.intersection(*(set(c) for c in per_seed.values()))) if per_seed else []
            mean = [statistics.mean(c[s] for c in per_seed.values()) for s in steps]
            ax.plot(steps, mean, color=colour, lw=2.5, label=f"from {start.upper()} (mean of {len(per_seed)})")
        ax.set(xlabel="GRPO step", ylabel=label, title=label, ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend()
    for start in args.starts:
        acc, fmt = curves(start, args.seeds, "val/accuracy"), curves(start, args.seeds, STRICT)
        for seed, c in acc.items():
            last = max(c)
            lines.append(f"| {start} | {seed} | {c.get(0, float('nan')):.3f} | {c[last]:.3f} (step {last}) | "
                         f"{max(c.values()):.3f} | {fmt.get(seed, {}).get(last, float('nan')):.3f} |")  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out.with_suffix('.png')} and {out.with_suffix('.md')}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["run", "report"])
    p.add_argument("--starts", nargs="+", default=list(STARTS), choices=list(STARTS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="OMP threads per run")
    p.add_argument("--out", default="benchmarks/alignment/grpo_experiment")
    args, extra = p.parse_known_args(argv)  # the rest: litlab overrides, e.g. --trainer.max_steps=40
    args.extra = [a for a in extra if a != "--"]
    run(args) if args.action == "run" else report(args)


if __name__ == "__main__":
    main()
