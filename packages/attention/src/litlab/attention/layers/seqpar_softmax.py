"""Softmax attention over a time axis split across ranks (context parallelism by an all-gather of K and V).

Rank r of P holds the queries, keys and values of its piece [R, R + T_r), R = r * T_r (equal pieces). One
differentiable all-gather gives it every rank's keys and values; it attends its queries causally to the
first R + T_r of them, with positions counted globally (RoPE, SSMax, ALiBi and the window see the token's
place in the whole sequence):

    o_i = softmax_j<=R+i( q_i k_j^T / sqrt(d) ) v_j,     i in [0, T_r), j in [0, R + T_r)

Same values as the unsplit layer; the backward sums each key's and value's gradient over the ranks that
read it (reduce-scatter / all-reduce, see ops/seqpar/comm.py). This is the all-gather form of context
parallelism (Megatron-LM's, and LASP-2's hybrid, arXiv 2502.07563 Sec. 3.3) rather than a ring: one
collective per layer and direction, at the price of memory.

Memory per rank and layer: the gathered K and V, 2 * B * T * H_kv * d elements (T the GLOBAL length, GQA
divides it by H / H_kv), plus as much again for their gradients in the backward, against 2 * B * T_r * H_kv
* d unsplit; the score tile grows from T_r^2 to T_r * (R + T_r) per head where the kernel forms it (the
math kernel on CPU; SDPA's memory-efficient GPU kernel takes the mask without forming the scores). A
lightning layer exchanges only its [B, H, d, d] state.
"""

from __future__ import annotations

import torch
from torch import Tensor

from litlab.attention.ops.seqpar import gather_sequence, group_rank, group_size


@torch.compiler.disable  # a collective with its own autograd: a graph break under torch.compile
def seqpar_softmax_attention(layer, x: Tensor, group) -> Tensor:
    """`SoftmaxAttention.forward` for this rank's piece x [B, T_r, C] of a sequence split over `group`."""
    size, rank = group_size(group), group_rank(group)
    b, t, _ = x.shape
    start = rank * t
    q, k, v = layer._qkv(x, start)  # q [B, H, T_r, d], k, v [B, H_kv, T_r, d], positions from `start`
    if size == 1:  # the plain layer's work: no collective
        keys, values = k, v
    else:
        keys = gather_sequence(k, group, dim=2)[:, :, : start + t]  # (B, H_kv, R + T_r, d)
        values = gather_sequence(v, group, dim=2)[:, :, : start + t]
    if getattr(layer, "alibi", None) is not None or getattr(layer, "window", None) is not None:
        mask = layer._mask(start, t, 0, start + t, q)
    else:
        rows = torch.arange(start, start + t, device=x.device)[:, None]
        mask = torch.arange(start + t, device=x.device)[None, :] <= rows  # (T_r, R + T_r) keys visible
    return layer._attend(q, keys, values, mask, causal=False)
