"""Generate PointMass2D expert demonstrations as a LeRobot v3 dataset (train/val split by seed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from litlab.robotics.data.lerobot_v3 import write_lerobot_v3
from litlab.robotics.sims.expert import rollout_expert
from litlab.robotics.sims.pointmass2d import PointMass2DEnv

__all__ = ["generate_pointmass_dataset", "VAL_SEED_OFFSET"]

VAL_SEED_OFFSET = 1_000_000  # validation episodes use seeds seed + VAL_SEED_OFFSET + i


def generate_pointmass_dataset(root: str | Path, episodes: int = 200, val_episodes: int = 20,
                               control_hz: int = 50, image_size: int = 64, seed: int = 0,
                               noise_prob: float = 0.3, noise_std: float = 0.15,
                               keep_failures: bool = False, progress: bool = False) -> dict:
    """Roll out the minimum-jerk expert on seeded episodes and write them; returns a summary dict.

    A fraction ``noise_prob`` of episodes executes Gaussian action noise (``noise_std``) while the clean
    expert action is recorded. Failed episodes are dropped unless ``keep_failures``.
    """
    if episodes < 1 or val_episodes < 0:
        raise ValueError(f"need episodes >= 1 and val_episodes >= 0, got {episodes}, {val_episodes}")
    env = PointMass2DEnv(control_hz=control_hz, image_size=image_size)
    rng = np.random.default_rng([seed, 99])
    seeds = [seed + i for i in range(episodes)] + [seed + VAL_SEED_OFFSET + i for i in range(val_episodes)]
    it = seeds
    if progress:
        from rich.progress import track

        it = track(seeds, description=f"PointMass2D @ {control_hz} Hz")
    eps = [rollout_expert(env, s, noise_std if rng.random() < noise_prob else 0.0) for s in it]
    kept = [e for e in eps if e["success"] or keep_failures]
    n_train = sum(1 for e in kept if e["seed"] < seed + VAL_SEED_OFFSET)
    write_lerobot_v3(root, kept, control_hz, "pointmass2d", n_train, state_names=["x", "y"],
                     action_names=["vx", "vy"])
    return {"episodes": len(eps), "success_rate": float(np.mean([e["success"] for e in eps])),
            "kept": len(kept), "train": n_train, "frames": int(sum(len(e["action"]) for e in kept))}
