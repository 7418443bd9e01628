"""Learning-rate schedule: linear warmup then cosine decay (Loshchilov & Hutter, arXiv 1608.03983)."""

from __future__ import annotations

import math


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Multiplier of the peak learning rate at `step` (0-based): (step+1)/warmup during warmup, then
    a cosine from 1 down to `min_ratio` at `total_steps`, constant after."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
