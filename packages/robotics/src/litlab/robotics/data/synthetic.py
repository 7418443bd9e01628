"""Synthetic smooth action chunks: cubic splines through random knots (the toy data of FAST,
arXiv 2501.09747, Sec. IV / Fig. 3, and the spec's compression anchors)."""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline

__all__ = ["spline_chunks", "spline_knots"]


def spline_knots(n: int, dim: int, n_knots: int = 4, low: float = -0.8, high: float = 0.8,
                 rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Knot times ``[n, n_knots]`` (sorted, uniform in [0, 1], first 0 and last 1) and values
    ``[n, n_knots, dim]`` uniform in ``[low, high]``."""
    if n_knots < 2:
        raise ValueError(f"n_knots must be >= 2, got {n_knots}")
    rng = rng if rng is not None else np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 1, (n, n_knots)), axis=1)
    t[:, 0], t[:, -1] = 0.0, 1.0
    if n_knots > 2 and (np.diff(t, axis=1) < 1e-3).any():  # re-space near-duplicate knots
        t[:, 1:-1] = np.sort(rng.uniform(0.05, 0.95, (n, n_knots - 2)), axis=1)
        t[:, 1:-1] += np.arange(n_knots - 2) * 1e-3
    return t, rng.uniform(low, high, (n, n_knots, dim))


def spline_chunks(n: int, horizon: int, dim: int, n_knots: int = 4, seed: int = 0,
                  low: float = -0.8, high: float = 0.8, knot_times: str = "uniform") -> np.ndarray:
    """``[n, horizon, dim]`` chunks sampled at ``horizon`` equispaced times in [0, 1] from cubic splines
    (not-a-knot ends) through ``n_knots`` knots per chunk with values uniform in ``[low, high]``, clipped to
    [-1, 1]. ``knot_times``: ``"uniform"`` (equispaced) or ``"random"`` (sorted uniform, ends fixed)."""
    if n < 1 or horizon < 1 or dim < 1:
        raise ValueError(f"n, horizon and dim must be >= 1, got {n}, {horizon}, {dim}")
    if knot_times not in ("uniform", "random"):
        raise ValueError(f"knot_times must be 'uniform' or 'random', got {knot_times!r}")
    rng = np.random.default_rng(seed)
    t, y = spline_knots(n, dim, n_knots, low, high, rng)
    if knot_times == "uniform":
        t[:] = np.linspace(0.0, 1.0, n_knots)
    s = np.linspace(0.0, 1.0, horizon)
    out = np.stack([CubicSpline(t[i], y[i], axis=0)(s) for i in range(n)])
    return np.clip(out, -1.0, 1.0)
