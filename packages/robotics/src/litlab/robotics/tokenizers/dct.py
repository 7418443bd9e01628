"""Orthonormal DCT-II / DCT-III along the time axis of action chunks, as batched matrix products.

FAST (Pertsch et al., arXiv 2501.09747, Sec. V-B, Eq. 1) applies a type-II DCT with orthonormal scaling to
each action dimension of a chunk ``a: [H, D]``:

    C[k, d] = w_k * sum_n a[n, d] * cos(pi * (n + 1/2) * k / H),   w_0 = sqrt(1/H),  w_k = sqrt(2/H) (k > 0)

which is ``scipy.fft.dct(a, type=2, norm="ortho", axis=0)``. With ``M[k, n] = w_k cos(pi (n + 1/2) k / H)``
the forward transform is ``C = M a`` and, since ``M`` is orthogonal, the inverse (DCT-III) is
``a = M^T C``. Written as one einsum over ``[B, H, D]`` it runs batched on any device and is differentiable.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

__all__ = ["dct_matrix", "dct", "idct", "fast_coefficients", "as_chunks"]


@functools.lru_cache(maxsize=64)
def _dct_matrix_cached(horizon: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    n = torch.arange(horizon, dtype=torch.float64)
    k = n[:, None]
    m = math.sqrt(2.0 / horizon) * torch.cos(math.pi * (n[None, :] + 0.5) * k / horizon)  # (H, H)
    m[0] *= math.sqrt(0.5)
    return m.to(dtype=dtype, device=device)


def dct_matrix(horizon: int, dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu"):
    """The orthonormal DCT-II matrix ``M: [H, H]`` (``M[k, n]``), cached per ``(H, dtype, device)``."""
    if not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be a positive int, got {horizon!r}")
    return _dct_matrix_cached(horizon, dtype, str(torch.device(device)))


def as_chunks(chunks, name: str = "chunks", dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Validate and convert numpy/torch chunks ``[N, H, D]`` (or one ``[H, D]`` chunk) to a float tensor."""
    if isinstance(chunks, np.ndarray):
        chunks = torch.from_numpy(np.ascontiguousarray(chunks))
    if not isinstance(chunks, torch.Tensor):
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(chunks).__name__}")
    if chunks.ndim == 2:
        chunks = chunks[None]
    if chunks.ndim != 3:
        raise ValueError(f"{name} must have shape [N, H, D] (or [H, D]), got {tuple(chunks.shape)}")
    if chunks.shape[1] < 1 or chunks.shape[2] < 1:
        raise ValueError(f"{name} needs H >= 1 and D >= 1, got shape {tuple(chunks.shape)}")
    if not (chunks.is_floating_point() or chunks.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"{name} must be a float (or int) tensor, got dtype {chunks.dtype}")
    chunks = chunks.to(dtype)
    # one cheap reduction first (NaN/inf propagate into the sum); the full check only if it is not finite
    if chunks.numel() and not torch.isfinite(chunks.sum()) and not torch.isfinite(chunks).all():
        raise ValueError(f"{name} contains NaN or inf values; FAST needs finite normalized actions")
    return chunks


def dct(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal DCT-II along time. ``x: [B, H, D] -> C: [B, H, D]`` (``C[:, k, d]``, frequency k)."""
    m = dct_matrix(x.shape[-2], x.dtype, x.device)
    return torch.einsum("kn,bnd->bkd", m, x)


def idct(c: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`dct` (orthonormal DCT-III). ``c: [B, H, D] -> x: [B, H, D]``."""
    m = dct_matrix(c.shape[-2], c.dtype, c.device)
    return torch.einsum("kn,bkd->bnd", m, c)


def fast_coefficients(chunks, scale: float = 10.0) -> torch.Tensor:
    """Quantized FAST coefficients ``round(scale * DCT-II(chunks))`` along time.

    Args:
        chunks: normalized actions ``[N, H, D]`` (numpy or torch, any device); computed in float64.
        scale: quantization scale (> 0); rounding is half-to-even, as numpy's.

    Returns:
        LongTensor ``[N, H, D]`` equal to ``round(scale * scipy.fft.dct(x, type=2, norm="ortho", axis=1))``.
    """
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    x = as_chunks(chunks)
    return torch.round(dct(x) * scale).long()
