"""Causal softmax attention with RoPE, grouped-query heads and optional Scalable-Softmax.

Attention(Q, K, V) = softmax(Q K^T / sqrt(d) + causal mask) V (Vaswani et al., arXiv 1706.03762, Eq. 1),
with RoPE (arXiv 2104.09864) on q and k, H_q query heads sharing H_kv key/value heads (GQA,
arXiv 2305.13245) and SSMax (arXiv 2501.19399) applied as a per-query scaling of q (see ssmax.py).
The kernel is torch `scaled_dot_product_attention` (FlashAttention / cuDNN on GPU, math on CPU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from litlab.attention.layers.kv_cache import KVCache
from litlab.attention.layers.prefix import prefix_lm_mask
from litlab.attention.layers.rope import RotaryEmbedding
from litlab.attention.layers.ssmax import SSMax, SSMaxMode


@torch.compiler.disable
def _rope_tables(rope: RotaryEmbedding, pos: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """RoPE's cos/sin tables [1, T, 1, R/2], formed eagerly once per layer (a graph break under torch.compile).

    Traced into a compiled block, Inductor inlined the float64 pow/cos/sin into every element's rotation
    kernel: 68 of the 213 ms of kernel time per training step of a 138M softmax LM on an H200.
    """
    return rope.tables(pos, dtype)


class SoftmaxAttention(nn.Module):
    """Causal multi-head softmax attention: [B, T, C] -> [B, T, C].

    Args:
        dim: model width C.
        num_heads: query heads H_q.
        head_dim: channels per head d.
        num_kv_heads: key/value heads H_kv (divides num_heads); None means num_heads (plain MHA).
        rope_theta: RoPE base.
        rotary_dim: channels rotated per head; None means all.
        ssmax: "off", "learn" (trainable s per head) or "posthoc" (fixed, training-free).
        ssmax_train_len: training context used to initialise s.
        ssmax_scale: explicit s (initial for "learn", fixed for "posthoc").
        ssmax_per_head: one s per query head (True) or one per layer.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        head_dim: int,
        num_kv_heads: int | None = None,
        rope_theta: float = 10000.0,
        rotary_dim: int | None = None,
        ssmax: SSMaxMode = "off",
        ssmax_train_len: int = 1024,
        ssmax_scale: float | None = None,
        ssmax_per_head: bool = True,
    ) -> None:
        super().__init__()
        num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
        if num_kv_heads < 1 or num_heads % num_kv_heads:
            raise ValueError(f"num_kv_heads must divide num_heads={num_heads}, got {num_kv_heads}")
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, head_dim
        self.q_proj = nn.Linear(dim, num_heads * head_dim, bias=False)
        self.kv_proj = nn.Linear(dim, 2 * num_kv_heads * head_dim, bias=False)
        self.out_proj = nn.Linear(num_heads * head_dim, dim, bias=False)
        self.rope = RotaryEmbedding(head_dim, rotary_dim, rope_theta)
        self.ssmax = SSMax(num_heads, ssmax, ssmax_train_len, ssmax_scale, ssmax_per_head)

    def _qkv(self, x: Tensor, start: int) -> tuple[Tensor, Tensor, Tensor]:
        """Project, rotate and SSMax-scale; returns q [B, H, T, d], k, v [B, H_kv, T, d]."""
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.num_heads, self.head_dim)
        k, v = self.kv_proj(x).view(b, t, 2, self.num_kv_heads, self.head_dim).unbind(2)
        pos = torch.arange(start, start + t, device=x.device)
        tables = _rope_tables(self.rope, pos, torch.float64 if x.dtype == torch.float64 else torch.float32)
        q, k = self.rope(q, tables=tables), self.rope(k, tables=tables)
        q = self.ssmax(q, pos + 1)  # query at 0-based position p sees p + 1 keys
        return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool) -> Tensor:
        o = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, enable_gqa=self.num_kv_heads != self.num_heads
        )  # (B, H, T, d)
        b, _, t, _ = o.shape
        return self.out_proj(o.transpose(1, 2).reshape(b, t, self.num_heads * self.head_dim))

    def forward(self, x: Tensor, prefix_len: Tensor | None = None) -> Tensor:
        """Full causal attention over x [B, T, C] (training and scoring). With prefix_len [B] (checked by
        the Backbone) row b sees its first prefix_len[b] tokens bidirectionally (explicit mask, layers/prefix.py)."""
        q, k, v = self._qkv(x, 0)
        if prefix_len is not None:
            return self._attend(q, k, v, prefix_lm_mask(prefix_len, x.shape[1]), causal=False)
        return self._attend(q, k, v, None, causal=True)

    def init_state(self, batch: int) -> KVCache:
        """An empty KV cache for `batch` sequences (buffers are allocated on the first token)."""
        return KVCache(batch, self.num_kv_heads, self.head_dim)

    def prefill(self, x: Tensor, cache: KVCache, prefix_len: Tensor | None = None) -> tuple[Tensor, KVCache]:
        """Attend x [B, T, C] to the cache plus itself (causally); the cache grows by T. prefix_len [B]:
        a bidirectional prefix, only on an empty cache."""
        start = cache.length
        if prefix_len is not None and start:
            raise ValueError(f"prefix_len needs an empty cache (a prefix starts the sequence), cache has {start}")
        q, k, v = self._qkv(x, start)
        k_all, v_all = cache.append(k, v)
        t = x.shape[1]
        if prefix_len is not None:
            return self._attend(q, k_all, v_all, prefix_lm_mask(prefix_len, t), causal=False), cache
        if start == 0 or t == 1:
            return self._attend(q, k_all, v_all, None, causal=t > 1), cache
        rows = torch.arange(start, start + t, device=x.device)[:, None]
        mask = torch.arange(start + t, device=x.device)[None, :] <= rows  # (T, L+T) keys visible
        return self._attend(q, k_all, v_all, mask, causal=False), cache

    def step(self, x_t: Tensor, cache: KVCache) -> tuple[Tensor, KVCache]:
        """Decode one token x_t [B, C] -> [B, C]."""
        y, cache = self.prefill(x_t[:, None], cache)
        return y[:, 0], cache
