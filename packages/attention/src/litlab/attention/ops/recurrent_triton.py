"""Triton decode step of Lightning Attention (arXiv 2401.04658, Eq. 2).

    S <- lambda S + k^T v,   o = scale * q S

One program per (sequence, head, E tile): the fp32 state tile is read once and written once, which is the
whole cost of a decode step (about 8*D*E bytes per head). No tensor cores are needed.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from litlab.attention.ops.triton_common import cdiv, next_pow2


@triton.jit
def _step_kernel(
    q,
    k,
    v,
    s_in,
    s_out,
    o,
    decay,
    scale,
    H: tl.constexpr,
    D: tl.constexpr,
    E: tl.constexpr,
    BD: tl.constexpr,
    BE: tl.constexpr,
    HAS_DECAY: tl.constexpr,
):
    i_e = tl.program_id(0)
    i_nh = tl.program_id(1).to(tl.int64)
    offs_d = tl.arange(0, BD)
    offs_e = i_e * BE + tl.arange(0, BE)
    m_d = offs_d < D
    m_e = offs_e < E
    qv = tl.load(q + i_nh * D + offs_d, mask=m_d, other=0.0).to(tl.float32)
    kv = tl.load(k + i_nh * D + offs_d, mask=m_d, other=0.0).to(tl.float32)
    vv = tl.load(v + i_nh * E + offs_e, mask=m_e, other=0.0).to(tl.float32)
    ptr = i_nh * D * E + offs_d[:, None] * E + offs_e[None, :]
    m = m_d[:, None] & m_e[None, :]
    state = tl.load(s_in + ptr, mask=m, other=0.0)
    if HAS_DECAY:
        state = state * tl.exp(-tl.load(decay + i_nh % H))
    state += kv[:, None] * vv[None, :]
    tl.store(s_out + ptr, state, mask=m)
    out = tl.sum(qv[:, None] * state, axis=0) * scale
    tl.store(o + i_nh * E + offs_e, out.to(o.dtype.element_ty), mask=m_e)


def step_triton(q, k, v, state, decay, scale):
    """q, k: [N, H, D]; v: [N, H, E]; state [N, H, D, E] fp32 -> (o [N, H, E], new state)."""
    n, h, d = q.shape
    e = v.shape[-1]
    q, k, v, state = q.contiguous(), k.contiguous(), v.contiguous(), state.contiguous()
    new_state = torch.empty_like(state)
    o = torch.empty(n, h, e, dtype=q.dtype, device=q.device)
    bd = max(16, next_pow2(d))
    be = max(16, min(next_pow2(e), 8192 // bd))
    dec = decay.to(torch.float32).contiguous() if decay is not None else state
    grid = (cdiv(e, be), n * h)
    _step_kernel[grid](q, k, v, state, new_state, o, dec, scale, h, d, e, bd, be, decay is not None, num_warps=4)
    return o, new_state
