"""Quality and smoothness of a history set: per-task return curves, a plot and a short report.

A learning history should rise smoothly from the random policy's return to its final level. Measured per
task on the episode returns R_1..R_N cut into `blocks` equal blocks with means m_1..m_B:
- quality = mean return of the last 10% of episodes / the oracle's return (the "50%-quality" sets: ~0.5);
- rise = Spearman rank correlation of (block index, m_b), 1 for a monotone curve;
- worst drop = the largest m_b - m_{b+1} over consecutive blocks, in units of the total rise m_B - m_1.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from litlab.rl.histories.store import HistorySet


def task_curve_stats(returns: np.ndarray, expert: float, random: float, blocks: int = 20) -> dict:
    """quality, rise and worst drop of one task's episode returns (see the module docstring)."""
    returns = np.asarray(returns, dtype=np.float64)
    tail = max(1, len(returns) // 10)
    m = np.array([b.mean() for b in np.array_split(returns, min(blocks, len(returns)))])
    total = m[-1] - m[0]
    drop = float(np.max(m[:-1] - m[1:], initial=0.0) / total) if abs(total) > 1e-12 else float("inf")
    rise = float(spearmanr(np.arange(len(m)), m).statistic) if len(m) > 2 and m.std() > 0 else 0.0
    return {
        "first10": float(returns[:tail].mean()), "last10": float(returns[-tail:].mean()),
        "quality": float(returns[-tail:].mean() / expert) if expert else float("nan"),
        "random": random, "expert": expert, "rise": rise, "worst_drop": drop,
    }  # fmt: skip


def report(root: str | Path, plot: bool = True, blocks: int = 20) -> dict:
    """Stats of every task, their means, and `return_curves.png` in root; also written to report.json."""
    hs = HistorySet(root)
    per_task = {}
    for t, s in hs.streams.items():
        m = s.meta
        per_task[t] = task_curve_stats(np.array(m["episode_returns"]), m["expert_return"], m["random_return"], blocks)
    keys = ("first10", "last10", "quality", "random", "expert", "rise", "worst_drop")
    summary = {k: float(np.mean([v[k] for v in per_task.values()])) for k in keys}
    summary["min_rise"] = float(min(v["rise"] for v in per_task.values()))
    summary["smooth"] = bool(summary["min_rise"] > 0.9 and summary["worst_drop"] < 0.2)
    out = {"summary": summary, "tasks": {str(k): v for k, v in per_task.items()}}
    Path(root, "report.json").write_text(json.dumps(out, indent=1))
    if plot:
        plot_curves(hs, Path(root) / "return_curves.png")
    return out


def plot_curves(hs: HistorySet, path: Path, smooth: int = 50) -> None:
    """Mean episode return over tasks (with the 10-90% band) and a few single tasks, moving-averaged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = [np.array(s.meta["episode_returns"], dtype=np.float64) for s in hs.streams.values()]
    n = min(len(c) for c in curves)
    w = max(1, min(smooth, n // 20))
    kernel = np.ones(w) / w
    sm = np.stack([np.convolve(c[:n], kernel, mode="valid") for c in curves])
    x = np.arange(sm.shape[1]) + w
    fig, ax = plt.subplots(figsize=(7, 4))
    for row in sm[:5]:
        ax.plot(x, row, lw=0.6, alpha=0.5)
    ax.fill_between(x, *np.quantile(sm, [0.1, 0.9], axis=0), alpha=0.2, color="k", label="10-90% of tasks")
    ax.plot(x, sm.mean(0), color="k", lw=2, label=f"mean over {len(curves)} tasks")
    expert = np.mean([s.meta["expert_return"] for s in hs.streams.values()])
    ax.axhline(expert, ls="--", color="g", label=f"oracle {expert:.2f}")
    ax.set(xlabel="episode", ylabel=f"return (moving average, {w} episodes)", title=f"{hs.meta['family']} histories")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
