"""Callbacks shared by the litlab packages.

`PeriodicEval`: the schedule and bookkeeping of an evaluation that runs outside Lightning's validation loop
(environment rollouts of an RL agent): every ``every_n_steps`` optimizer steps and once at the end of fit
(unless that step was just evaluated), with the module in eval mode for the duration and its training mode
restored after; the returned metrics go to every logger at the trainer's global step. A subclass writes
``evaluate(trainer, pl_module) -> dict[str, float]``.
"""

from __future__ import annotations

from lightning.pytorch import Callback, LightningModule, Trainer

__all__ = ["PeriodicEval"]


class PeriodicEval(Callback):
    """Runs ``evaluate`` every ``every_n_steps`` optimizer steps (0: only at the end of fit) and at the end."""

    def __init__(self, every_n_steps: int) -> None:
        if every_n_steps < 0:
            raise ValueError(f"every_n_steps must be >= 0 (0: only at the end of fit), got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.last_step: int | None = None  # global step of the latest evaluation

    def evaluate(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, float]:
        """One evaluation; returns the metrics to log (names as the loggers should show them)."""
        raise NotImplementedError

    def run(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, float]:
        """``evaluate`` in eval mode (training mode restored after), its metrics logged to every logger."""
        self.last_step = trainer.global_step
        was_training = pl_module.training
        pl_module.eval()
        try:
            metrics = self.evaluate(trainer, pl_module)
        finally:
            pl_module.train(was_training)
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        return metrics

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args) -> None:
        step = trainer.global_step
        if self.every_n_steps and step % self.every_n_steps == 0 and step != self.last_step:
            self.run(trainer, pl_module)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.global_step != self.last_step:
            self.run(trainer, pl_module)
