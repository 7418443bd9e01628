"""Causal softmax attention with RoPE, grouped-query heads and optional Scalable-Softmax.

Attention(Q, K, V) = softmax(Q K^T / sqrt(d) + causal mask) V (Vaswani et al., arXiv 1706.03762, Eq. 1),
with RoPE (arXiv 2104.09864) on q and k, H_q query heads sharing H_kv key/value heads (GQA,
arXiv 2305.13245) and SSMax (arXiv 2501.19399) applied as a per-query scaling of q (see ssmax.py).
Options for sequence models over long streams (Vintix, arXiv 2501.19400): `position="alibi"` (ALiBi
biases instead of RoPE, alibi.py) or "none", per-head QK-LayerNorm (q, k normalised over d before the dot
product), attention dropout, and a sliding window W that bounds both training attention and the KV cache.
The kernel is torch `scaled_dot_product_attention` (FlashAttention / cuDNN on GPU, math on CPU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from litlab.attention.layers.alibi import position_mask
from litlab.attention.layers.kv_cache import KVCache
from litlab.attention.layers.prefix import prefix_lm_mask
from litlab.attention.layers.rope import RotaryEmbedding
from litlab.attention.layers.seqpar_softmax import seqpar_softmax_attention
from litlab.attention.layers.ssmax import SSMax, SSMaxMode
from litlab.attention.ops.slopes import alibi_slopes


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
        position: "rope" (default), "alibi" (linear biases, no rotation) or "none" (no positional signal).
        qk_norm: LayerNorm over d of each head's q and k (learned gain and bias, shared by heads).
        attn_dropout: dropout on the attention weights while training.
        window: sliding window W (each query sees itself and W - 1 keys before it); None: unbounded.
    """

    sp_group = None  # a process group splitting T in `forward` (sequence parallelism, lm/seqpar.py); None: off

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
        position: str = "rope",
        qk_norm: bool = False,
        attn_dropout: float = 0.0,
        window: int | None = None,
    ) -> None:
        super().__init__()
        if position not in ("rope", "alibi", "none"):
            raise ValueError(f"position must be 'rope', 'alibi' or 'none', got {position!r}")
        if window is not None and window < 1:
            raise ValueError(f"window must be >= 1 or None, got {window}")
        self.position, self.window, self.attn_dropout = position, window, float(attn_dropout)
        alibi = torch.tensor(alibi_slopes(num_heads)) if position == "alibi" else None
        self.register_buffer("alibi", alibi, persistent=False)
        self.q_norm = nn.LayerNorm(head_dim) if qk_norm else None
        self.k_norm = nn.LayerNorm(head_dim) if qk_norm else None
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
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if self.position == "rope":
            tables = _rope_tables(self.rope, pos, torch.float64 if x.dtype == torch.float64 else torch.float32)
            q, k = self.rope(q, tables=tables), self.rope(k, tables=tables)
        q = self.ssmax(q, pos + 1)  # query at 0-based position p sees p + 1 keys
        return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool) -> Tensor:
        p = self.attn_dropout if self.training else 0.0
        o = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal, enable_gqa=self.num_kv_heads != self.num_heads
        )  # (B, H, T, d)
        b, _, t, _ = o.shape
        return self.out_proj(o.transpose(1, 2).reshape(b, t, self.num_heads * self.head_dim))

    def forward(self, x: Tensor, prefix_len: Tensor | None = None) -> Tensor:
        """Full causal attention over x [B, T, C] (training and scoring). With prefix_len [B] (checked by
        the Backbone) row b sees its first prefix_len[b] tokens bidirectionally (explicit mask, layers/prefix.py)."""
        if self.sp_group is not None:  # this rank's piece of a split sequence: keys and values all-gathered
            if prefix_len is not None:
                raise ValueError("SoftmaxAttention: prefix_len is not supported with a sequence split (sp_group)")
            return seqpar_softmax_attention(self, x, self.sp_group)
        q, k, v = self._qkv(x, 0)
        if prefix_len is not None:
            return self._attend(q, k, v, self._with_positions(prefix_lm_mask(prefix_len, x.shape[1]), q), causal=False)
        if self.alibi is not None or self.window is not None:
            t = x.shape[1]
            return self._attend(q, k, v, self._mask(0, t, 0, t, q), causal=False)
        return self._attend(q, k, v, None, causal=True)

    def _mask(self, q_start: int, t: int, k_start: int, s: int, q: Tensor) -> Tensor:
        """Causal mask of t queries at q_start.. over s keys at k_start.., with the window and ALiBi."""
        return position_mask(
            q_start, t, k_start, s, slopes=self.alibi, window=self.window, device=q.device, dtype=q.dtype
        )

    def _with_positions(self, prefix_mask: Tensor, q: Tensor) -> Tensor:
        """A prefix-LM bool mask [B, 1, T, T] with the ALiBi biases added (unchanged without ALiBi)."""
        if self.alibi is None:
            return prefix_mask
        t = prefix_mask.shape[-1]
        i = torch.arange(t, device=q.device)
        bias = -self.alibi.to(q.dtype)[:, None, None] * (i[:, None] - i[None, :]).abs().to(q.dtype)  # (H, T, T)
        return bias[None].masked_fill(~prefix_mask, float("-inf"))

    def init_state(self, batch: int) -> KVCache:
        """An empty KV cache for `batch` sequences (buffers are allocated on the first token)."""
        return KVCache(batch, self.num_kv_heads, self.head_dim, window=self.window)

    def prefill(self, x: Tensor, cache: KVCache, prefix_len: Tensor | None = None) -> tuple[Tensor, KVCache]:
        """Attend x [B, T, C] to the cache plus itself (causally); the cache grows by T. prefix_len [B]:
        a bidirectional prefix, only on an empty cache."""
        start = cache.length
        if prefix_len is not None and start:
            raise ValueError(f"prefix_len needs an empty cache (a prefix starts the sequence), cache has {start}")
        q, k, v = self._qkv(x, start)
        k_start = start - cache.stored
        k_all, v_all = cache.append(k, v)
        t = x.shape[1]
        if prefix_len is not None:
            return self._attend(q, k_all, v_all, self._with_positions(prefix_lm_mask(prefix_len, t), q), False), cache
        if self.alibi is not None or self.window is not None:
            return self._attend(q, k_all, v_all, self._mask(start, t, k_start, k_all.shape[2], q), False), cache
        if start == 0 or t == 1:
            return self._attend(q, k_all, v_all, None, causal=t > 1), cache
        rows = torch.arange(start, start + t, device=x.device)[:, None]
        mask = torch.arange(start + t, device=x.device)[None, :] <= rows  # (T, L+T) keys visible
        return self._attend(q, k_all, v_all, mask, causal=False), cache

    def step(self, x_t: Tensor, cache: KVCache) -> tuple[Tensor, KVCache]:
        """Decode one token x_t [B, C] -> [B, C]."""
        y, cache = self.prefill(x_t[:, None], cache)
        return y[:, 0], cache
