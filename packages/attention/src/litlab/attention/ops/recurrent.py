"""One decode step of Lightning Attention (arXiv 2401.04658, the recurrence of Eq. 2).

    S <- lambda * S + k^T v,   o = scale * q S          (state updated before it is read, lambda = exp(-s))

Always memory bound (about 8*D*E bytes of fp32 state traffic per head): on CUDA a Triton kernel reads and
writes the state once; elsewhere (or when a gradient is needed) plain PyTorch.
"""

from __future__ import annotations

import torch


def step_torch(q, k, v, state, decay, scale):
    """q, k: [N, H, D]; v: [N, H, E]; state: [N, H, D, E] fp32 -> (o [N, H, E] in q.dtype, new state)."""
    cdt = state.dtype
    kv = k.to(cdt)[..., :, None] * v.to(cdt)[..., None, :]  # [N, H, D, E]
    if decay is None:
        new_state = state + kv
    else:
        new_state = torch.exp(-decay.to(cdt))[None, :, None, None] * state + kv
    o = scale * torch.einsum("nhd,nhde->nhe", q.to(cdt), new_state)
    return o.to(q.dtype), new_state
