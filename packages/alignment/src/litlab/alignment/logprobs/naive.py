"""The plain reference: full [..., V] logits, log_softmax, gather. Readable, exact, memory-hungry."""

from __future__ import annotations

import torch
from torch import Tensor

from .head import HeadTransform


def naive_token_logps(
    hidden: Tensor,
    weight: Tensor,
    targets: Tensor,
    bias: Tensor | None = None,
    transform: HeadTransform | None = None,
    ignore_index: int = -100,
) -> Tensor:
    """log softmax(transform(hidden @ weight.T + bias)) gathered at targets; [R, T] fp32, 0 off-label.

    hidden [R, T, d], weight [V, d], bias [V] | None, targets [R, T] (already shifted: targets[:, t] is the
    token predicted from hidden[:, t]; ignore_index marks positions without a label).
    """
    transform = HeadTransform() if transform is None else transform
    logits = hidden @ weight.T  # [R, T, V]
    if bias is not None:
        logits = logits + bias
    dtype = torch.float64 if hidden.dtype == torch.float64 else torch.float32
    logp = transform.apply(logits.to(dtype)).log_softmax(-1)
    valid = targets != ignore_index
    picked = logp.gather(-1, torch.where(valid, targets, 0)[..., None])[..., 0]
    return torch.where(valid, picked, torch.zeros_like(picked))
