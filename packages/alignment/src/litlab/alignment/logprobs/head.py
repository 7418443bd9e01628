"""The LM head as the log-prob kernels see it: weight [V, d], optional bias [V] and post-head transforms."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class HeadTransform:
    """Elementwise maps applied to raw head logits z, in this order:
    z' = softcap * tanh(z * logit_scale / softcap)  (Gemma-2 final-logit soft-capping; skipped if None),
    then z' / temperature (the sampling temperature, as TRL does for GRPO).
    `logit_scale` covers Cohere's `logit_scale` (a factor) and Granite's `logits_scaling` (1 / divisor).
    """

    logit_scale: float = 1.0
    softcap: float | None = None
    temperature: float = 1.0

    def __post_init__(self) -> None:
        for name in ("logit_scale", "temperature"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"HeadTransform.{name} must be a finite number > 0, got {value!r}")
        if self.softcap is not None and not self.softcap > 0:
            raise ValueError(f"HeadTransform.softcap must be > 0 or None, got {self.softcap!r}")

    @property
    def is_identity(self) -> bool:
        return self.logit_scale == 1.0 and self.softcap is None and self.temperature == 1.0

    def apply(self, z: Tensor) -> Tensor:
        """Transformed logits (same dtype as z)."""
        if self.logit_scale != 1.0:
            z = z * self.logit_scale
        if self.softcap is not None:
            z = torch.tanh(z / self.softcap) * self.softcap
        if self.temperature != 1.0:
            z = z / self.temperature
        return z

    def derivative(self, z: Tensor) -> Tensor | float:
        """dz'/dz at the raw logits z (a float when constant)."""
        const = self.logit_scale / self.temperature
        if self.softcap is None:
            return const
        return const * (1.0 - torch.tanh(z * self.logit_scale / self.softcap).square())
