"""Rotary position embedding (RoFormer, arXiv 2104.09864, Eq. 34).

Pairs channel i with channel i + rotary_dim/2 (the "rotate half" layout of GPT-NeoX and Llama) and
rotates each pair by the angle pos * theta^(-2i / rotary_dim). Channels beyond `rotary_dim` pass
through unchanged (partial rotary, as in MiniMax-01 which rotates 64 of 128 dims).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class RotaryEmbedding(nn.Module):
    """RoPE on the first `rotary_dim` channels of a [B, T, H, D] tensor.

    Args:
        head_dim: channels per head D.
        rotary_dim: channels that are rotated (even, <= head_dim); None means all of them.
        theta: base of the frequencies.
    """

    def __init__(self, head_dim: int, rotary_dim: int | None = None, theta: float = 10000.0) -> None:
        super().__init__()
        rotary_dim = head_dim if rotary_dim is None else rotary_dim
        if rotary_dim <= 0 or rotary_dim % 2 or rotary_dim > head_dim:
            raise ValueError(f"rotary_dim must be even and in (0, head_dim={head_dim}], got {rotary_dim}")
        if theta <= 1.0:
            raise ValueError(f"theta must be > 1, got {theta}")
        self.rotary_dim = rotary_dim
        inv_freq = theta ** (-torch.arange(0, rotary_dim, 2, dtype=torch.float64) / rotary_dim)
        self.register_buffer("inv_freq", inv_freq.float(), persistent=False)

    def forward(self, x: Tensor, positions: Tensor) -> Tensor:
        """Rotate x [B, T, H, D] at integer positions [T] (or [B, T])."""
        angles = positions.to(torch.float32)[..., None] * self.inv_freq  # (..., T, R/2)
        if angles.dim() == 2:
            angles = angles[None]
        cos = angles.cos()[:, :, None, :]  # (B|1, T, 1, R/2)
        sin = angles.sin()[:, :, None, :]
        r = self.rotary_dim
        x1, x2, rest = x[..., : r // 2].float(), x[..., r // 2 : r].float(), x[..., r:]
        rotated = torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).to(x.dtype)
        return torch.cat([rotated, rest], dim=-1) if rest.shape[-1] else rotated
