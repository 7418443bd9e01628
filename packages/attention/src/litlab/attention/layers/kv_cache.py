"""Key/value cache for softmax attention decoding, with amortised O(1) appends.

Keys and values live in preallocated [B, H_kv, capacity, D] buffers (the layout SDPA reads) that
double when full, so appending one token never copies the whole cache. The buffers take the device
and dtype of the first keys appended (bf16 under autocast, fp32 otherwise).

With a sliding window W the cache keeps only the last W - 1 positions after each append (what the next
query needs besides itself): the valid keys are a moving range [lo, lo + stored) of a buffer of about 2W
positions, copied back to its start only when the range reaches the end, so a step still costs O(1)
amortised and the memory stays O(W). `length` always counts every token appended (positions go on).
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
        window: sliding window W (None: keep everything).
    """

    def __init__(
        self, batch: int, num_kv_heads: int, head_dim: int, capacity: int = 256, window: int | None = None
    ) -> None:
        if window is not None and window < 1:
            raise ValueError(f"KVCache: window must be >= 1 or None, got {window}")
        self.window = window
        if window is not None:
            capacity = 2 * window
        self.shape = (batch, num_kv_heads, max(capacity, 1), head_dim)
        self.k: Tensor | None = None
        self.v: Tensor | None = None
        self.length = 0  # tokens appended so far
        self.lo = 0  # buffer index of the first kept position
        self.stored = 0  # positions kept (= length without a window)

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
        t = k.shape[2]
        if self.lo + self.stored + t > self.k.shape[2]:  # compact to the start, then grow if still short
            capacity = max(self.stored + t, self.k.shape[2] if self.lo else 2 * self.k.shape[2])
            self.k, self.v = self._move(self.k, capacity), self._move(self.v, capacity)
            self.lo = 0
        end = self.lo + self.stored + t
        self.k[:, :, end - t : end] = k.to(self.k.dtype)
        self.v[:, :, end - t : end] = v.to(self.v.dtype)
        k_all, v_all = self.k[:, :, self.lo : end], self.v[:, :, self.lo : end]
        self.length += t
        self.stored += t
        if self.window is not None and self.stored > self.window - 1:
            self.lo, self.stored = end - (self.window - 1), self.window - 1
        return k_all, v_all

    def _move(self, buf: Tensor, capacity: int) -> Tensor:
        """The kept positions copied to the start of a buffer of `capacity` positions."""
        out = buf.new_zeros(buf.shape[0], buf.shape[1], capacity, buf.shape[3])
        out[:, :, : self.stored] = buf[:, :, self.lo : self.lo + self.stored]
        return out
