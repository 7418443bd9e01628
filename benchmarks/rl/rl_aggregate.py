"""Aggregate the runs of offline_runs.py: final normalized return per run, IQM with a 95% stratified
bootstrap CI over tasks x seeds (arXiv 2108.13264), a markdown table and PNG plots.

    python benchmarks/rl/rl_aggregate.py main        # -> packages/rl/docs/exp_main.{md,png}, exp_main_evals.csv
    python benchmarks/rl/rl_aggregate.py flow_steps
    python benchmarks/rl/rl_aggregate.py alpha
    python benchmarks/rl/rl_aggregate.py beta
    python benchmarks/rl/rl_aggregate.py main --runs runs/rl-main-5k --name exp_main_5k
"""

from __future__ import annotations

import argparse
import csv
import re
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from litlab.rl.eval import iqm_bootstrap_ci  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"(?P<method>[a-z]+)(_(?P<tag>K\d+|alpha[\d.e-]+|beta[\d.e-]+))?_(?P<task>[a-z0-9-]+)_s(?P<seed>\d+)")


def load(experiment: str, root: Path | None = None) -> dict[tuple[str, str], dict[int, list[dict]]]:
    """{(variant, task): {seed: eval rows}} for every finished run."""
    out: dict = defaultdict(dict)
    # the newest finished version of each run (an interrupted attempt leaves an earlier version without eval.csv)
    for path in sorted((root or ROOT / "runs" / f"rl-{experiment}").glob("*/version_*/eval.csv")):
        m = NAME.fullmatch(path.parents[1].name)
        if m is None:
            continue
        variant = m["tag"] or m["method"]
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(open(path))]
        out[(variant, m["task"])][int(m["seed"])] = rows
    return out


def summarize(experiment: str, root: Path | None = None, name: str | None = None) -> str:
    """Write docs/<name>.md and .png (name defaults to exp_<experiment>) and return the markdown table."""
    name = name or f"exp_{experiment}"
    runs = load(experiment, root)
    variants = sorted({v for v, _ in runs}, key=_order)
    tasks = sorted({t for _, t in runs})
    lines = [f"| variant | {' | '.join(tasks)} | IQM [95% CI] | runs |", "|---" * (len(tasks) + 3) + "|"]
    summary = {}
    for v in variants:
        cells, per_task = [], []
        for t in tasks:
            final = [rows[-1]["normalized_return"] for rows in runs.get((v, t), {}).values()]
            cells.append(f"{np.mean(final):.1f} ± {np.std(final):.1f}" if final else "-")
            per_task.append(final)
        n = min(len(f) for f in per_task)
        if n == 0:
            lines.append(f"| {v} | {' | '.join(cells)} | - | 0 |")
            continue
        point, lo, hi = iqm_bootstrap_ci(np.array([f[:n] for f in per_task]))
        summary[v] = (point, lo, hi)
        lines.append(f"| {v} | {' | '.join(cells)} | {point:.1f} [{lo:.1f}, {hi:.1f}] | {len(tasks)}x{n} |")
    _plot(name, runs, variants, tasks, summary)
    _write_evals(name, runs)
    table = "\n".join(lines)
    (ROOT / "packages/rl/docs" / f"{name}.md").write_text(table + "\n")
    return table


def _write_evals(name: str, runs: dict) -> None:
    """Every evaluation of every run (docs/<name>_evals.csv), so the table can be recomputed from the repo."""
    with open(ROOT / "packages/rl/docs" / f"{name}_evals.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["variant", "task", "seed", "step", "return", "normalized_return"])
        for (variant, task), seeds in sorted(runs.items()):
            for seed, rows in sorted(seeds.items()):
                for r in rows:
                    w.writerow(
                        [variant, task, seed, int(r["step"]), f"{r['return']:.3f}", f"{r['normalized_return']:.3f}"]
                    )


def _order(v: str):
    m = re.search(r"[\d.]+(e-?\d+)?$", v)
    return (v.rstrip("0123456789.e-"), float(m.group()) if m else 0.0)


def _plot(name, runs, variants, tasks, summary) -> None:
    fig, axes = plt.subplots(1, len(tasks) + 1, figsize=(3.2 * (len(tasks) + 1), 3))
    for ax, t in zip(axes, tasks):
        for v in variants:
            seeds = runs.get((v, t), {})
            if not seeds:
                continue
            steps = [r["step"] for r in next(iter(seeds.values()))]
            curves = np.array(
                [[r["normalized_return"] for r in rows] for rows in seeds.values() if len(rows) == len(steps)]
            )
            ax.plot(steps, curves.mean(0), marker="o", label=v)
            ax.fill_between(steps, curves.min(0), curves.max(0), alpha=0.15)
        ax.set(title=t, xlabel="gradient steps", ylabel="normalized return")
    ax = axes[-1]
    names = list(summary)
    points = np.array([summary[n][0] for n in names])
    err = np.array([[summary[n][0] - summary[n][1], summary[n][2] - summary[n][0]] for n in names]).T
    ax.bar(names, points, yerr=err, capsize=4, color="C7")
    ax.set(title="IQM, 95% bootstrap CI", ylabel="normalized return")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(ROOT / "packages/rl/docs" / f"{name}.png", dpi=70)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("experiment", choices=["main", "flow_steps", "alpha", "beta"])
    p.add_argument("--runs", type=Path, default=None, help="runs folder (default runs/rl-<experiment>)")
    p.add_argument("--name", default=None, help="output name under packages/rl/docs (default exp_<experiment>)")
    args = p.parse_args()
    print(summarize(args.experiment, args.runs, args.name))


if __name__ == "__main__":
    main()
