"""Aggregate scores as recommended by Agarwal et al. (arXiv 2108.13264): the interquartile mean (IQM)
with a 95% stratified-bootstrap confidence interval over tasks x seeds."""

from __future__ import annotations

import numpy as np
from scipy.stats import trim_mean


def iqm(scores: np.ndarray) -> float:
    """Mean of the middle 50% of all scores (25% trimmed from each end)."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ValueError("iqm of an empty score array")
    return float(trim_mean(scores, 0.25))


def iqm_bootstrap_ci(
    scores: np.ndarray, num_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """scores: (tasks, seeds). Resample seeds with replacement within each task; return (iqm, low, high)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.size == 0:
        raise ValueError(f"scores must be a non-empty (tasks, seeds) array, got shape {scores.shape}")
    rng = np.random.default_rng(seed)
    tasks, seeds = scores.shape
    idx = rng.integers(seeds, size=(num_resamples, tasks, seeds))
    resampled = np.take_along_axis(scores[None].repeat(num_resamples, 0), idx, axis=2)
    stats = trim_mean(resampled.reshape(num_resamples, -1), 0.25, axis=1)
    lo, hi = np.quantile(stats, [(1 - confidence) / 2, (1 + confidence) / 2])
    return iqm(scores), float(lo), float(hi)
