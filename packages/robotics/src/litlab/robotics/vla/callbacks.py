"""ClosedLoopEval: success rate of the current policy in batched PointMass2D episodes at each
validation, with a Wilson 95% interval, plus a PNG strip of one rendered rollout per evaluation."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.callbacks import Callback

from litlab.robotics.vla.rollout import VAL_SEED_OFFSET, evaluate_closed_loop, save_rollout_strip

__all__ = ["ClosedLoopEval"]


class ClosedLoopEval(Callback):
    """Closed-loop evaluation on validation seeds (never the test seeds) during ``fit``.

    Args:
        episodes: episodes per evaluation, all stepped together.
        every_n_validations: evaluate at every n-th validation (the last one of a fit always runs).
        seed_offset: first seed; the default is the demonstration generator's validation range.
        strip_frames: frames of the saved rollout strip (0: none).
    """

    def __init__(self, episodes: int = 50, every_n_validations: int = 1, seed_offset: int = VAL_SEED_OFFSET,
                 strip_frames: int = 8):
        if episodes < 1 or every_n_validations < 1:
            raise ValueError(f"need episodes >= 1 and every_n_validations >= 1, got {episodes}, {every_n_validations}")
        self.episodes, self.every = episodes, every_n_validations
        self.offset, self.strip_frames = seed_offset, strip_frames
        self._count = 0
        self.last: dict | None = None

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        self._count += 1
        last = trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps
        if self._count % self.every and not last:
            return
        self.evaluate(trainer, pl_module)

    def evaluate(self, trainer, pl_module) -> dict:
        from litlab.robotics.vla.module import summarize

        seeds = range(self.offset, self.offset + self.episodes)
        with pl_module._eval_policy() as policy:
            was_training = policy.training
            policy.eval()
            res = evaluate_closed_loop(policy, seeds, **pl_module.env_kwargs, record=1 if self.strip_frames else 0)
            policy.train(was_training)
        self.last = summarize([res], prefix="val/")
        pl_module.log_dict(self.last, prog_bar=False)
        if self.strip_frames and res["frames"]:
            folder = Path(trainer.log_dir or trainer.default_root_dir) / "rollouts"
            ok = "success" if res["success"][0] else "failure"
            save_rollout_strip(res["frames"][0], folder / f"step{trainer.global_step:06d}.png", self.strip_frames,
                               caption=f"seed {self.offset} ({ok}), step {trainer.global_step}")
        return self.last
