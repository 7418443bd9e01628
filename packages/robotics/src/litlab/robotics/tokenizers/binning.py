"""Naive per-dimension, per-timestep binning of normalized actions (the baseline of FAST, arXiv
2501.09747, Sec. III; RT-2 arXiv 2307.15818, OpenVLA arXiv 2406.09246).

``i = clamp(floor((y + 1) / 2 * N), 0, N - 1)`` for each of the H*D entries in time-major order
``[t1: d1..dD, t2: d1..dD, ...]``; decoding maps ids to bin centres ``-1 + (i + 1/2) * 2 / N``, so the
error inside [-1, 1] is at most half a bin, ``1 / N``. Every chunk is exactly H*D tokens.
"""

from __future__ import annotations

import logging

import torch

from litlab.robotics.tokenizers.dct import as_chunks

__all__ = ["BinningTokenizer"]
log = logging.getLogger(__name__)


class BinningTokenizer:
    """Uniform bins over [-1, 1] per dimension and step.

    Args:
        bins: number of bins N (ids ``0..N-1``).
    """

    def __init__(self, bins: int = 256):
        if not isinstance(bins, int) or bins < 2:
            raise ValueError(f"bins must be an int >= 2, got {bins!r}")
        self.bins = bins
        self.stats = {"encoded": 0, "clipped": 0}

    @property
    def vocab_size(self) -> int:
        return self.bins

    def encode(self, chunks) -> torch.Tensor:
        """Normalized chunks ``[N, H, D]`` -> LongTensor ``[N, H * D]`` (time-major)."""
        x = as_chunks(
            chunks,
            dtype=chunks.dtype if isinstance(chunks, torch.Tensor) and chunks.is_floating_point() else torch.float64,
        )
        outside = int(((x < -1) | (x > 1)).sum())
        if outside:
            self.stats["clipped"] += outside
            log.warning("BinningTokenizer clipped %d values outside [-1, 1]", outside)
        self.stats["encoded"] += len(x)
        ids = torch.floor((x.clamp(-1, 1) + 1) / 2 * self.bins).long().clamp_(0, self.bins - 1)
        return ids.reshape(len(x), -1)

    def decode(self, ids, horizon: int, action_dim: int) -> torch.Tensor:
        """LongTensor ``[N, H * D]`` -> bin centres ``[N, H, D]`` (float32)."""
        ids = torch.as_tensor(ids)
        if ids.ndim != 2 or ids.shape[1] != horizon * action_dim:
            raise ValueError(f"ids must be [N, H*D] = [N, {horizon * action_dim}], got {tuple(ids.shape)}")
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.bins):
            raise ValueError(f"ids must lie in [0, {self.bins - 1}], got range [{int(ids.min())}, {int(ids.max())}]")
        return (-1 + (ids.float() + 0.5) * 2 / self.bins).reshape(len(ids), horizon, action_dim)
