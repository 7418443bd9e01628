"""Key/value cache for softmax attention decoding, with amortised O(1) appends.

Keys and values live in preallocated [B, H_kv, capacity, D] buffers (the layout SDPA reads) that
double when full, so appending one token never copies the whole cache. The buffers take the device
and dtype of the first keys appended (bf16 under autocast, fp32 otherwise).
"""

from __future__ import annotations

from torch import Tensor


class KVCache:
    """Growing cache of keys and values for one softmax layer.

    Args:
        batch: sequences B.
        num_kv_heads: key/value heads.
        head_dim: channels per head.
        capacity: initial number of positions.
    """

    def __init__(self, batch: int, num_kv_heads: int, head_dim: int, capacity: int = 256) -> None:
        self.shape = (batch, num_kv_heads, max(capacity, 1), head_dim)
        self.k: Tensor | None = None
        self.v: Tensor | None = None
        self.length = 0

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Add k, v [B, H_kv, T, D]; return views of all cached keys and values [B, H_kv, L+T, D]."""
        b, h, _, d = self.shape
        if k.dim() != 4 or (k.shape[0], k.shape[1], k.shape[3]) != (b, h, d) or v.shape != k.shape:
            raise ValueError(
                f"KVCache.append: k, v have shapes {tuple(k.shape)}, {tuple(v.shape)}; expected [{b}, {h}, T, {d}]"
            )
        if self.k is None or self.v is None:
            self.k = k.new_zeros(self.shape)
            self.v = v.new_zeros(self.shape)
        new_len = self.length + k.shape[2]
        if new_len > self.k.shape[2]:
            capacity = max(new_len, 2 * self.k.shape[2])
            self.k = self._grow(self.k, capacity)
            self.v = self._grow(self.v, capacity)
        self.k[:, :, self.length : new_len] = k.to(self.k.dtype)
        self.v[:, :, self.length : new_len] = v.to(self.v.dtype)
        self.length = new_len
        return self.k[:, :, :new_len], self.v[:, :, :new_len]

    def _grow(self, buf: Tensor, capacity: int) -> Tensor:
        out = buf.new_zeros(buf.shape[0], buf.shape[1], capacity, buf.shape[3])
        out[:, :, : self.length] = buf[:, :, : self.length]
        return out
