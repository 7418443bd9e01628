"""``OfflineEvalCallback``: evaluate an offline RL module in its environment during training.

Every ``every_n_steps`` optimizer steps (and once at the end of training) it runs ``num_episodes``
batched rollouts of ``pl_module.sample_actions`` in the dataset's environment, logs ``eval/return`` and
the D4RL normalized score ``eval/normalized_return`` = 100 (R - R_random) / (R_expert - R_random) with the
dataset's stored reference returns, and at the end writes ``eval.csv`` and ``eval_curve.png`` to the
run's log folder.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch import LightningModule, Trainer

from litlab.rl.eval.rollout import evaluate_episodes
from litlab.shared.callbacks import PeriodicEval


class OfflineEvalCallback(PeriodicEval):
    """Periodic evaluation rollouts with normalized returns, a CSV and a plot (schedule: `PeriodicEval`)."""

    def __init__(
        self, every_n_steps: int = 10_000, num_episodes: int = 10, seed: int = 0, max_episode_steps: int | None = None
    ) -> None:
        """
        Args:
            every_n_steps: optimizer steps between evaluations (there is always one at the end).
            num_episodes: episodes per evaluation, run in lock-step as one batch.
            seed: seed of the environments' resets and of the policy noise (same at every evaluation).
            max_episode_steps: override of the environment's time limit (None keeps it).
        """
        if every_n_steps < 1 or num_episodes < 1:
            raise ValueError(f"every_n_steps and num_episodes must be >= 1, got {every_n_steps}, {num_episodes}")
        super().__init__(every_n_steps)
        self.num_episodes, self.seed = num_episodes, seed
        self.max_episode_steps = max_episode_steps
        self.history: list[dict[str, float]] = []

    def _metadata(self, trainer: Trainer):
        meta = getattr(trainer.datamodule, "metadata", None)
        if meta is None:
            raise ValueError("OfflineEvalCallback needs a datamodule with dataset metadata (OfflineRLDataModule)")
        return meta

    def evaluate(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, float]:
        meta = self._metadata(trainer)
        gen = torch.Generator(device=pl_module.device).manual_seed(self.seed)

        def policy(obs: np.ndarray) -> np.ndarray:
            x = torch.as_tensor(obs, dtype=torch.float32, device=pl_module.device)
            return pl_module.sample_actions(x, gen).cpu().numpy().astype(np.float64)

        returns = evaluate_episodes(meta.env_id, policy, self.num_episodes, self.seed, self.max_episode_steps)
        scores = meta.normalized_score(returns)
        row = {
            "step": float(trainer.global_step),
            "return": float(returns.mean()),
            "normalized_return": float(scores.mean()),
            "normalized_return_std": float(scores.std()),
        }
        self.history.append(row)
        return {f"eval/{k}": v for k, v in row.items() if k != "step"}

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_end(trainer, pl_module)  # the final evaluation, unless this step had one
        if trainer.is_global_zero and trainer.log_dir is not None:
            self.save(Path(trainer.log_dir), self._metadata(trainer).env_id)

    def save(self, folder: Path, title: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "eval.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(self.history[0]))
            writer.writeheader()
            writer.writerows(self.history)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps = [r["step"] for r in self.history]
        mean = np.array([r["normalized_return"] for r in self.history])
        std = np.array([r["normalized_return_std"] for r in self.history])
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(steps, mean, marker="o")
        ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
        ax.set(xlabel="gradient steps", ylabel="normalized return", title=title)
        fig.tight_layout()
        fig.savefig(folder / "eval_curve.png", dpi=80)
        plt.close(fig)
