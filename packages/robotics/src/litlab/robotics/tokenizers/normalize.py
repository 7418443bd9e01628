"""Quantile normalization of actions/states to [-1, 1] (FAST, arXiv 2501.09747, Sec. V-B).

Per dimension the 1st and 99th percentiles of the training data map to -1 and 1:

    y = 2 * (clip(x, q01, q99) - q01) / (q99 - q01) - 1,     x = q01 + (y + 1) / 2 * (q99 - q01)

Deviation from openpi (which does not clip): we clip, so every DCT coefficient of a normalized chunk obeys
``|C| <= sqrt(H)`` (Parseval), and we count the clipped entries per dimension instead of clipping silently.
A dimension whose ``q99 - q01 < eps`` (constant) maps to 0 and inverts to its midpoint.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

__all__ = ["QuantileNormalizer"]
log = logging.getLogger(__name__)


def _to_numpy(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1:
        raise ValueError(f"{name} must have a trailing feature dimension [..., D], got a scalar")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf values")
    return x


def _like(y: np.ndarray, ref):
    if isinstance(ref, torch.Tensor):
        return torch.as_tensor(y, dtype=ref.dtype if ref.is_floating_point() else torch.float64, device=ref.device)
    return y


class QuantileNormalizer:
    """Map each feature dimension's [q_low, q_high] percentile range to [-1, 1], with counted clipping.

    Args:
        q_low: lower percentile as a fraction (default 0.01).
        q_high: upper percentile as a fraction (default 0.99).
        eps: a dimension with ``q99 - q01 < eps`` is treated as constant.
    """

    def __init__(self, q_low: float = 0.01, q_high: float = 0.99, eps: float = 1e-8):
        if not 0.0 <= q_low < q_high <= 1.0:
            raise ValueError(f"need 0 <= q_low < q_high <= 1, got q_low={q_low}, q_high={q_high}")
        self.q_low, self.q_high, self.eps = float(q_low), float(q_high), float(eps)
        self.q01: np.ndarray | None = None
        self.q99: np.ndarray | None = None
        self.clip_counts: np.ndarray | None = None
        self.source: dict = {}

    @property
    def dim(self) -> int:
        self._check_fitted()
        return len(self.q01)

    def fit(self, x, source: dict | None = None) -> QuantileNormalizer:
        """Fit per-dimension quantiles on training data ``x: [..., D]`` (all leading axes pooled)."""
        arr = _to_numpy(x, "x").reshape(-1, np.shape(x)[-1])
        if arr.shape[0] == 0:
            raise ValueError("x is empty; cannot fit quantiles")
        self.q01 = np.quantile(arr, self.q_low, axis=0)
        self.q99 = np.quantile(arr, self.q_high, axis=0)
        self.clip_counts = np.zeros(arr.shape[1], dtype=np.int64)
        self.source = dict(source or {})
        return self

    @classmethod
    def from_quantiles(cls, q01, q99, eps: float = 1e-8, source: dict | None = None) -> QuantileNormalizer:
        """Build from stored quantiles (e.g. a LeRobot ``stats.json`` feature's ``q01``/``q99``)."""
        q01, q99 = np.asarray(q01, dtype=np.float64), np.asarray(q99, dtype=np.float64)
        if q01.ndim != 1 or q01.shape != q99.shape:
            raise ValueError(f"q01 and q99 must be 1-D of equal length, got {q01.shape} and {q99.shape}")
        if (q99 < q01).any():
            raise ValueError(f"q99 must be >= q01 in every dimension, got q01={q01}, q99={q99}")
        norm = cls(eps=eps)
        norm.q01, norm.q99 = q01, q99
        norm.clip_counts = np.zeros(len(q01), dtype=np.int64)
        norm.source = dict(source or {})
        return norm

    def _check_fitted(self):
        if self.q01 is None:
            raise RuntimeError("QuantileNormalizer is not fitted; call fit() or load() first")

    def _check_dim(self, arr: np.ndarray, name: str):
        if arr.shape[-1] != len(self.q01):
            raise ValueError(f"{name} has {arr.shape[-1]} features in its last axis, expected {len(self.q01)}")

    def transform(self, x):
        """Clip to [q01, q99] and map to [-1, 1]; clipped entries are counted in ``clip_counts``."""
        self._check_fitted()
        arr = _to_numpy(x, "x")
        self._check_dim(arr, "x")
        clipped = np.clip(arr, self.q01, self.q99)
        n_clip = (clipped != arr).reshape(-1, arr.shape[-1]).sum(axis=0)
        if n_clip.any():
            self.clip_counts += n_clip
            log.info("QuantileNormalizer clipped %d entries (per dim %s)", int(n_clip.sum()), n_clip.tolist())
        width = self.q99 - self.q01
        const = width < self.eps
        y = 2.0 * (clipped - self.q01) / np.where(const, 1.0, width) - 1.0
        y = np.where(const, 0.0, y)
        return _like(y, x)

    def inverse(self, y):
        """Map normalized values back: ``x = q01 + (y + 1) / 2 * (q99 - q01)`` (constant dims -> midpoint)."""
        self._check_fitted()
        arr = _to_numpy(y, "y")
        self._check_dim(arr, "y")
        x = self.q01 + (arr + 1.0) / 2.0 * (self.q99 - self.q01)
        return _like(x, y)

    def to_dict(self) -> dict:
        self._check_fitted()
        return {
            "q01": self.q01.tolist(),
            "q99": self.q99.tolist(),
            "q_low": self.q_low,
            "q_high": self.q_high,
            "eps": self.eps,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict) -> QuantileNormalizer:
        missing = {"q01", "q99"} - set(d)
        if missing:
            raise ValueError(f"normalizer dict is missing keys {sorted(missing)}")
        norm = cls.from_quantiles(d["q01"], d["q99"], eps=d.get("eps", 1e-8), source=d.get("source"))
        norm.q_low, norm.q_high = d.get("q_low", 0.01), d.get("q_high", 0.99)
        return norm

    def save(self, path: str | Path):
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> QuantileNormalizer:
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"cannot read normalizer file {path}: {e}") from e
        return cls.from_dict(d)
