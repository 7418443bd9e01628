"""Data and action codecs of the spline toy (FAST, arXiv 2501.09747, Sec. IV, Fig. 3).

Four random points ``(x, y)`` (see :func:`spline_toy_batch`) condition the model; the target is the cubic
spline through them sampled at T equispaced times in [0, 1] (clipped to [-1, 1]). Only T, the
"sampling rate", changes between runs. Targets are token sequences from one of two codecs:

* ``binning``: T tokens of 256 uniform bins (the naive per-timestep tokenization);
* ``fast``: FAST tokens (D = 1, scale 10, vocab 1024, fitted on the training pool) and an EOS token.
"""

from __future__ import annotations

from itertools import chain

import numpy as np
import torch
from scipy.interpolate import CubicSpline

from litlab.robotics.tokenizers import BinningTokenizer, FASTTokenizer

__all__ = ["spline_toy_batch", "ActionCodec"]


def spline_toy_batch(n: int, horizon: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``points [n, 4, 2]`` (x, y) and ``curves [n, horizon]`` of the spline through them.

    Knot times span the chunk: x = 0 and 1 at the ends, the gaps are 0.15 + 0.55 * Dirichlet(1, 1, 1)
    (random, at least 0.15 apart, so the spline does not overshoot wildly); y is uniform in [-1, 1]; the
    curve is clipped to [-1, 1].
    """
    rng = np.random.default_rng(seed)
    gaps = 0.15 + 0.55 * rng.dirichlet(np.ones(3), n)
    x = np.concatenate([np.zeros((n, 1)), np.cumsum(gaps, axis=1)], axis=1)
    x[:, -1] = 1.0
    y = rng.uniform(-1, 1, (n, 4))
    s = np.linspace(0, 1, horizon)
    curves = np.stack([CubicSpline(x[i], y[i])(s) for i in range(n)])
    return np.stack([x, y], axis=-1), np.clip(curves, -1, 1)


class ActionCodec:
    """Curves ``[N, T]`` <-> action-token sequences for ``kind`` in {"binning", "fast"}.

    Token ids: actions ``[0, n_actions)``, then BOS, EOS and PAD.
    """

    def __init__(
        self,
        kind: str,
        horizon: int,
        train_curves: np.ndarray,
        scale: float = 10.0,
        vocab_size: int = 1024,
        bins: int = 256,
    ):
        if kind not in ("binning", "fast"):
            raise ValueError(f"kind must be 'binning' or 'fast', got {kind!r}")
        self.kind, self.horizon = kind, horizon
        if kind == "binning":
            self.tok, self.n_actions = BinningTokenizer(bins), bins
        else:
            self.tok = FASTTokenizer(scale=scale, vocab_size=vocab_size).fit(train_curves[:, :, None])
            self.n_actions = self.tok.bpe.vocab_size
        self.bos, self.eos, self.pad = self.n_actions, self.n_actions + 1, self.n_actions + 2
        self.vocab_size = self.n_actions + 3
        train_lens = [len(s) for s in self.encode(train_curves)]
        # generation budget: exactly T for binning, p99 of the training lengths + margin for FAST
        self.budget = horizon if kind == "binning" else int(np.percentile(train_lens, 99)) + 8

    def encode(self, curves: np.ndarray) -> list[list[int]]:
        x = curves[:, :, None]
        if self.kind == "binning":
            return self.tok.encode(x).tolist()
        return [s + [self.eos] for s in self.tok.encode(x)]

    def batch(self, curves: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forcing inputs ``[B, L+1]`` (BOS + tokens, PAD-padded) and targets (tokens, -100 pad)."""
        seqs = self.encode(curves)
        lens = torch.tensor([len(s) for s in seqs])
        width = int(lens.max())
        flat = torch.as_tensor(np.fromiter(chain.from_iterable(seqs), np.int64, int(lens.sum())))
        mask = torch.arange(width) < lens[:, None]  # row-major True positions = the tokens in order
        inp = torch.full((len(seqs), width + 1), self.pad, dtype=torch.long)
        tgt = torch.full((len(seqs), width), -100, dtype=torch.long)
        inp[:, 0] = self.bos
        inp[:, 1:][mask] = flat
        tgt[mask] = flat
        return inp[:, :-1], tgt

    def allowed(self) -> torch.Tensor:
        """Mask ``[vocab]`` of ids the generator may emit."""
        mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        mask[: self.n_actions] = True
        mask[self.eos] = self.kind == "fast"
        return mask

    def decode(self, generated: list[list[int]]) -> tuple[np.ndarray, int]:
        """Generated ids (EOS and anything after it dropped) -> curves ``[N, T]`` and strict failures."""
        seqs = [s[: s.index(self.eos)] if self.eos in s else s for s in generated]
        if self.kind == "binning":
            ids = torch.tensor([s[: self.horizon] for s in seqs])
            return self.tok.decode(ids, self.horizon, 1)[..., 0].double().numpy(), 0
        strict = self.tok.decode_with_info(seqs, self.horizon, 1, mode="strict")
        relaxed = self.tok.decode_with_info(seqs, self.horizon, 1, mode="relaxed")
        return relaxed.actions[..., 0].numpy(), strict.n_failures
