"""Input validation shared by the pure loss functions (clear errors before any math)."""

from __future__ import annotations

import torch
from torch import Tensor


def check_scores(**named: Tensor) -> int:
    """Check that every named tensor is a 1-D floating tensor of one common length; return the length."""
    length = None
    for name, value in named.items():
        if not isinstance(value, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        if value.ndim != 1:
            raise ValueError(f"{name} must be 1-D [B] (one score per pair), got shape {tuple(value.shape)}")
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a floating tensor, got dtype {value.dtype}")
        if length is None:
            length = value.shape[0]
        elif value.shape[0] != length:
            shapes = {k: tuple(v.shape) for k, v in named.items()}
            raise ValueError(f"score tensors must share one batch size, got {shapes}")
    return int(length or 0)


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def check_fraction(name: str, value: float | None, *, open_upper: bool = False) -> None:
    """A percentile given as a fraction: None (step disabled) or in [0, 1]."""
    if value is None:
        return
    upper_ok = value < 1.0 if open_upper else value <= 1.0
    if not (0.0 <= float(value) and upper_ok):
        bound = "[0, 1)" if open_upper else "[0, 1]"
        raise ValueError(f"{name} must be a fraction in {bound} or None, got {value!r}")


def check_positive(name: str, value: float) -> None:
    if not float(value) > 0.0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def as_fp32(x: Tensor) -> Tensor:
    """Loss math runs in fp32 at least (bf16/fp16 inputs are promoted, float64 is kept)."""
    return x if x.dtype == torch.float64 else x.float()
