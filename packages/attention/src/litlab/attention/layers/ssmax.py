"""Scalable-Softmax (SSMax, arXiv 2501.19399, Eq. 2) as a per-query scaling of q.

SSMax replaces softmax(z) by softmax((s * ln n) * z), where n is the number of keys the query attends
to. Because the factor is the same for every key of a query row, it equals multiplying q_n by
s * ln n before an unmodified attention kernel (so SDPA / FlashAttention still apply).

Modes:
- "learn": s is a learnable parameter, one per query head (or one per layer), initialised to
  s0 = 1 / mean_{n=1..L}(ln n) over the training context L, so the mean multiplier over training
  lengths is 1 and the layer starts close to plain softmax.
- "posthoc": training-free scaling for a model trained WITHOUT SSMax, applied only at evaluation:
  multiplier max(1, s * ln n) with fixed s (default 1 / ln L, i.e. log_L n, the "logn" trick of
  Qwen). It is the identity for n <= L, so a checkpoint behaves as trained inside its training
  length and sharpens attention beyond it. It adds no parameters: a plain checkpoint loads unchanged.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

SSMaxMode = Literal["off", "learn", "posthoc"]


def ssmax_init_scale(train_len: int) -> float:
    """s0 = 1 / mean_{n=1..L} ln n (the SSMax initialisation; L=1024 -> 0.168)."""
    if train_len < 2:
        raise ValueError(f"train_len must be >= 2 for SSMax, got {train_len}")
    mean_log = math.lgamma(train_len + 1) / train_len  # sum_{n<=L} ln n = ln L!
    return 1.0 / mean_log


class SSMax(nn.Module):
    """Multiplier for q: [B, T, H, D] queries at 0-based positions -> scaled queries.

    Args:
        num_heads: query heads H.
        mode: "off", "learn" or "posthoc" (see the module docstring).
        train_len: training context L used for the default scale.
        scale: initial (learn) or fixed (posthoc) s; None -> the default for the mode.
        per_head: one s per query head (paper) or one per layer.
    """

    def __init__(
        self,
        num_heads: int,
        mode: SSMaxMode = "learn",
        train_len: int = 1024,
        scale: float | None = None,
        per_head: bool = True,
    ) -> None:
        super().__init__()
        if mode not in ("off", "learn", "posthoc"):
            raise ValueError(f"ssmax mode must be 'off', 'learn' or 'posthoc', got {mode!r}")
        if scale is not None and not scale > 0:
            raise ValueError(f"ssmax scale must be > 0, got {scale}")
        self.mode = mode
        if mode == "learn":
            s0 = ssmax_init_scale(train_len) if scale is None else scale
            self.s = nn.Parameter(torch.full((num_heads if per_head else 1,), float(s0)))
        elif mode == "posthoc":
            if train_len < 2:
                raise ValueError(f"train_len must be >= 2 for SSMax, got {train_len}")
            s_fixed = 1.0 / math.log(train_len) if scale is None else scale
            self.register_buffer("s", torch.tensor([float(s_fixed)]), persistent=False)

    def multiplier(self, num_keys: Tensor) -> Tensor:
        """Factor per (position, head): num_keys [T] (n >= 1) -> [T, H] (or [T, 1]), fp32 or s's dtype."""
        log_n = torch.log(num_keys.to(torch.float64))[:, None].to(torch.promote_types(self.s.dtype, torch.float32))
        if self.mode == "learn":
            return log_n * self.s
        return torch.clamp(log_n * self.s, min=1.0)

    def forward(self, q: Tensor, num_keys: Tensor) -> Tensor:
        """Scale q [B, T, H, D] where query t sees num_keys[t] keys."""
        if self.mode == "off":
            return q
        mult = self.multiplier(num_keys)
        return (q.to(mult.dtype) * mult[None, :, :, None]).to(q.dtype)
