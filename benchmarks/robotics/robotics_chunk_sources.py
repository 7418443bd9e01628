"""Normalized one-second action chunks for the compression experiments (train / held-out splits).

* PointMass2D expert demonstrations, generated into a LeRobot v3 folder, read back, quantile-normalized
  with the train split's q01/q99, cut into full windows;
* cubic splines through 4 random knots per dimension (the spec's synthetic anchor data).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from litlab.robotics.cli import load_chunks
from litlab.robotics.data.generate import generate_pointmass_dataset
from litlab.robotics.data.lerobot_v3 import LeRobotV3Dataset
from litlab.robotics.data.synthetic import spline_chunks

__all__ = ["pointmass_chunks", "spline_split"]


def pointmass_chunks(
    hz: int,
    episodes: int = 300,
    val_episodes: int = 60,
    seed: int = 0,
    horizon: int | None = None,
    max_chunks: int = 3000,
    root: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) normalized chunks ``[N, H, 2]`` with ``H = hz`` (one second) by default."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(root) if root else Path(tmp) / f"pm{hz}"
        if not (path / "meta" / "info.json").exists():
            generate_pointmass_dataset(path, episodes, val_episodes, hz, image_size=16, seed=seed)
        ds = LeRobotV3Dataset(path)
        h = horizon or hz
        stride = max(1, h // 10)
        _, train, _ = load_chunks(ds, "train", h, stride)
        _, test, _ = load_chunks(ds, "val", h, stride)
    rng = np.random.default_rng(seed)
    if len(train) > max_chunks:
        train = train[rng.choice(len(train), max_chunks, replace=False)]
    return train, test


def spline_split(
    horizon: int, dim: int, n_train: int = 3000, n_test: int = 300, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) spline chunks ``[N, horizon, dim]`` from disjoint seeds."""
    return (spline_chunks(n_train, horizon, dim, seed=seed), spline_chunks(n_test, horizon, dim, seed=seed + 10_000))
