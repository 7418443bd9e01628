"""`ICRLEvalCallback`: cold-start evaluation on held-out tasks during and after training.

At every `every_n_steps` optimizer steps and at the end of fit, the agent rolls out every held-out task of
the DataModule x `seeds` environments for `episodes` episodes, starting from an empty context. Logged:
eval/return_shot{k} (mean), eval/normalized_iqm_shot{k} with its 95% stratified-bootstrap CI over
tasks x seeds (Agarwal et al., arXiv 2108.13264), rollout steps/s. Written to the run folder:
icrl_eval.csv (one row per evaluation and shot) and icrl_eval.png (return and IQM against shots).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from lightning.pytorch import LightningModule, Trainer

from litlab.rl.eval.stats import iqm_bootstrap_ci
from litlab.shared.callbacks import PeriodicEval


def shot_table(returns: np.ndarray, normalized: np.ndarray, resamples: int = 1000) -> list[dict]:
    """Per shot k: mean/std return and the IQM of the normalized score with its CI, over [tasks, seeds, K]."""
    rows = []
    for k in range(returns.shape[2]):
        iqm, lo, hi = iqm_bootstrap_ci(normalized[:, :, k], resamples)
        r = returns[:, :, k]
        rows.append({"shot": k + 1, "return_mean": float(r.mean()), "return_std": float(r.std()),
                     "norm_iqm": iqm, "norm_lo": lo, "norm_hi": hi})  # fmt: skip
    return rows


def plot_shots(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = np.array([r["shot"] for r in rows])
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    m, s = np.array([r["return_mean"] for r in rows]), np.array([r["return_std"] for r in rows])
    a.plot(k, m, color="C0")
    a.fill_between(k, m - s, m + s, alpha=0.2, color="C0")
    a.set(xlabel="episodes in context (shots)", ylabel="return (mean +- sd over tasks x seeds)", title=title)
    b.plot(k, [r["norm_iqm"] for r in rows], color="C1")
    b.fill_between(k, [r["norm_lo"] for r in rows], [r["norm_hi"] for r in rows], alpha=0.25, color="C1")
    b.set(xlabel="episodes in context (shots)", ylabel="normalized score, IQM (95% CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


class ICRLEvalCallback(PeriodicEval):
    """Cold-start in-context evaluation on the DataModule's held-out tasks.

    Args:
        every_n_steps: evaluate every n optimizer steps (0: only at the end of fit).
        episodes: shots per environment.
        seeds: environments per held-out task.
    """

    def __init__(self, every_n_steps: int = 0, episodes: int = 30, seeds: int = 4) -> None:
        if every_n_steps < 0 or episodes < 1 or seeds < 1:
            raise ValueError(
                f"need every_n_steps >= 0, episodes >= 1, seeds >= 1; got {every_n_steps}, {episodes}, {seeds}"
            )
        super().__init__(every_n_steps)
        self.episodes, self.seeds = episodes, seeds
        self.rows: list[dict] = []  # the latest evaluation's shot table

    def evaluate(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, float]:
        """Rollouts of every held-out task (schedule, eval mode and logging: `PeriodicEval`)."""
        outs = [pl_module.rollout(item, self.episodes, self.seeds) for item in trainer.datamodule.eval_tasks()]
        rets = np.concatenate([o["returns"] for o in outs])
        norm = np.concatenate([o["normalized"] for o in outs])
        rows = shot_table(rets, norm)
        speed = float(np.mean([o["steps_per_s"] for o in outs]))
        metrics = {"eval/rollout_steps_per_s": speed}
        for r in rows:
            if r["shot"] in (1, 2, 4, 8, 16, 32, 64) or r["shot"] == len(rows):
                metrics[f"eval/return_shot{r['shot']}"] = r["return_mean"]
                metrics[f"eval/normalized_iqm_shot{r['shot']}"] = r["norm_iqm"]
        self._write(trainer, rows)
        self.rows = rows
        return metrics

    def _write(self, trainer: Trainer, rows: list[dict]) -> None:
        folder = Path(trainer.log_dir or trainer.default_root_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "icrl_eval.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, ["step", *rows[0]])
            if new:
                w.writeheader()
            w.writerows({"step": trainer.global_step, **r} for r in rows)
        plot_shots(rows, folder / "icrl_eval.png", f"held-out tasks, step {trainer.global_step}")
