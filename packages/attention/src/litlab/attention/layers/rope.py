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
        self.rotary_dim, self.theta = rotary_dim, theta

    def tables(self, positions: Tensor, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
        """cos and sin of the angles pos * theta^(-2i / rotary_dim), each [B|1, T, 1, rotary_dim/2] in ``dtype``,
        for integer positions [T] (or [B, T]).

        Angles are formed in float64 (exact for positions up to 2^53; fp32 would lose the low bits of
        pos * freq beyond ~10^5 tokens). Form them once per layer and pass them to ``forward`` for q and k.
        """
        r = self.rotary_dim
        inv_freq = self.theta ** (-torch.arange(0, r, 2, dtype=torch.float64, device=positions.device) / r)
        angles = positions.to(torch.float64)[..., None] * inv_freq  # (..., T, R/2)
        if angles.dim() == 2:
            angles = angles[None]
        return angles.cos().to(dtype)[:, :, None, :], angles.sin().to(dtype)[:, :, None, :]

    def forward(
        self, x: Tensor, positions: Tensor | None = None, *, tables: tuple[Tensor, Tensor] | None = None
    ) -> Tensor:
        """Rotate x [B, T, H, D] at integer positions [T] (or [B, T]), or by ``tables`` from ``self.tables``.

        The rotation runs in fp32 (float64 for float64 inputs).
        """
        if (positions is None) == (tables is None):
            raise ValueError("RotaryEmbedding: pass exactly one of positions and tables")
        r = self.rotary_dim
        cdt = torch.float64 if x.dtype == torch.float64 else torch.float32
        cos, sin = self.tables(positions, cdt) if tables is None else (t.to(cdt) for t in tables)
        x1, x2, rest = x[..., : r // 2].to(cdt), x[..., r // 2 : r].to(cdt), x[..., r:]
        rotated = torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).to(x.dtype)
        return torch.cat([rotated, rest], dim=-1) if rest.shape[-1] else rotated
