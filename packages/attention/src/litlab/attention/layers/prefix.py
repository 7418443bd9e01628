"""Prefix-LM attention (T5 arXiv 1910.10683 Sec. 3.2.1; PaliGemma / pi0-FAST): row b attends
bidirectionally inside its first P_b tokens and causally after them.

Softmax layers use the explicit boolean mask  M[b, i, j] = (j <= i) or (j < P_b)  (True = visible).

Lightning (decayed linear) layers have no mask to edit: o_t = q_t S_t with S_t = lambda S_{t-1} + k_t^T v_t
weights key j by lambda^(t - j), and "seeing the future" would need lambda^(t - j) > 1. We define the
bidirectional prefix by its end state instead: every prefix position reads the state after the whole
prefix,

    o_t = q_t S_{P-1},   S_{P-1} = sum_{j < P} lambda^(P-1-j) k_j^T v_j      (t < P)
    o_t = q_t S_t                                                          (t >= P, unchanged)

i.e. the prefix is one non-causal linear-attention pass whose state seeds the causal part. The causal
part is exactly the causal recurrence (S_t continues from S_{P-1}), so prefill/step decoding after a
prefix is unchanged. Without decay (lambda = 1) this is plain non-causal linear attention in the prefix.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_prefix_len", "prefix_lm_mask", "linear_prefix_outputs"]


def check_prefix_len(prefix_len: Tensor | int, batch: int, length: int, device: torch.device) -> Tensor:
    """prefix_len as a LongTensor [B] on `device`, checked to lie in [0, T]."""
    p = torch.as_tensor(prefix_len, device=device)
    if p.dim() == 0:
        p = p.expand(batch)
    if p.shape != (batch,) or p.dtype.is_floating_point or p.dtype == torch.bool:
        raise ValueError(f"prefix_len must be an int or an integer tensor [B={batch}], got {tuple(p.shape)} {p.dtype}")
    if bool(((p < 0) | (p > length)).any()):
        raise ValueError(f"prefix_len must lie in [0, T={length}], got {p.tolist()}")
    return p.long()


def prefix_lm_mask(prefix_len: Tensor, length: int) -> Tensor:
    """Boolean mask [B, 1, T, T] (True = query i may see key j): causal, plus the whole prefix."""
    i = torch.arange(length, device=prefix_len.device)
    causal = i[None, :] <= i[:, None]  # (T, T)
    in_prefix = i[None, None, :] < prefix_len[:, None, None]  # (B, 1, T) keys in the prefix
    return (causal[None] | in_prefix)[:, None]  # (B, 1, T, T)


def linear_prefix_outputs(o: Tensor, q: Tensor, k: Tensor, v: Tensor, slopes: Tensor | None,
                          prefix_len: Tensor, scale: float = 1.0) -> Tensor:
    """Replace the prefix rows of a causal linear-attention output o [B, T, H, E] by q_t S_{P-1}.

    q, k: [B, T, H, D]; v: [B, T, H, E]; slopes s [H] (lambda = exp(-s)) or None; prefix_len [B].
    Computed in fp32 (float64 for float64 inputs; one [B, H, D, E] state per row), returned in o's dtype.
    """
    t, acc = q.shape[1], torch.float64 if q.dtype == torch.float64 else torch.float32
    j = torch.arange(t, device=q.device)
    lag = (prefix_len[:, None] - 1 - j[None, :]).to(acc)  # (B, T): P-1-j
    inside = lag >= 0
    lag = lag.clamp(min=0)[..., None]  # (B, T, 1) so masked keys never give exp(+x)
    w = inside[..., None].to(acc) if slopes is None else torch.exp(-lag * slopes.to(acc)) * inside[..., None]
    state = torch.einsum("bjh,bjhd,bjhe->bhde", w, k.to(acc), v.to(acc))  # S_{P-1}: (B, H, D, E)
    o_prefix = scale * torch.einsum("bthd,bhde->bthe", q.to(acc), state)
    rows = (j[None, :] < prefix_len[:, None])[:, :, None, None]  # (B, T, 1, 1)
    return torch.where(rows, o_prefix.to(o.dtype), o)
