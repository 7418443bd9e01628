"""RMSNorm (Zhang & Sennrich, arXiv 1910.07467, Eq. 4): y = x / sqrt(mean(x^2) + eps) * g.

Identical to `torch.nn.RMSNorm` except that the gain is cast to the input's dtype: under bf16 autocast
the input arrives in bf16 while the gain stays fp32, and torch then falls back from its fused kernel to
an unfused one. The fused kernel accumulates in fp32 either way.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class RMSNorm(nn.RMSNorm):
    """RMSNorm over the last dimension with a learnable gain."""

    def forward(self, x: Tensor) -> Tensor:
        weight = None if self.weight is None else self.weight.to(x.dtype)
        return F.rms_norm(x, self.normalized_shape, weight, self.eps)
