"""Chunked Lightning Attention-2 in plain PyTorch (arXiv 2401.04658, Algorithm 1).

For each chunk n of C tokens (the last one has its actual length c <= C), with local indices i, j:

    O_n     = scale * [ (Q_n K_n^T (.) D_c) V_n + Gamma_q Q_n S_[n] ]     intra (left) + inter (right) product
    S_[n+1] = lambda^c S_[n] + (Gamma_k K_n)^T V_n
    Gamma_q = diag(lambda^{i+1}),  Gamma_k = diag(lambda^{c-1-j})          (the a = 1 split)

The state is kept in fp32 (float64 for float64 inputs) and every decay is exp(-s*m) with m >= 0.
This is the CPU training path: autograd provides the backward, including the gradients for the decay
slopes, the initial state and through the final state.
"""

from __future__ import annotations

import torch


def _chunk_factors(s: torch.Tensor | None, c: int):
    """Decay factors of one chunk of length c: (D [H, c, c], Gamma_q [H, c], Gamma_k [H, c], lambda^c [H])."""
    if s is None:
        return None, None, None, None
    pos = torch.arange(c, device=s.device, dtype=s.dtype)
    diff = pos[:, None] - pos[None, :]
    dmat = torch.exp(-s[:, None, None] * diff.clamp(min=0)) * (diff >= 0)
    return dmat, torch.exp(-s[:, None] * (pos + 1)), torch.exp(-s[:, None] * (c - 1 - pos)), torch.exp(-s * c)


def _chunked_one(q, k, v, s, scale, state, chunk_size):
    """One sequence in head-first layout. q, k: [B, H, T, D]; v: [B, H, T, E]; state: [B, H, D, E]."""
    t = q.shape[2]
    mask = torch.ones(chunk_size, chunk_size, device=q.device, dtype=q.dtype).tril()
    outs = []
    full = _chunk_factors(s, chunk_size)
    for start in range(0, t, chunk_size):
        c = min(chunk_size, t - start)
        dmat, g_q, g_k, lam_c = full if c == chunk_size else _chunk_factors(s, c)
        qn, kn, vn = q[:, :, start : start + c], k[:, :, start : start + c], v[:, :, start : start + c]
        scores = qn @ kn.transpose(-1, -2)  # [B, H, c, c]
        scores = scores * (mask[:c, :c] if dmat is None else dmat)
        o = scores @ vn
        if dmat is None:
            o = o + qn @ state
            state = state + kn.transpose(-1, -2) @ vn
        else:
            o = o + (qn * g_q[..., None]) @ state
            state = lam_c[:, None, None] * state + (kn * g_k[..., None]).transpose(-1, -2) @ vn
        outs.append(o * scale)
    o = torch.cat(outs, dim=2) if outs else q.new_zeros(*q.shape[:3], v.shape[-1])
    return o, state


def chunk_lightning_attn(q, k, v, decay, scale, initial_state, cu_seqlens, chunk_size: int = 64):
    """Chunked form; shapes as in ``lightning_attn``. Returns (o in q.dtype, final state fp32/fp64)."""
    cdt = torch.float64 if q.dtype == torch.float64 else torch.float32
    b, _, h, d = q.shape
    e = v.shape[-1]
    s = None if decay is None else decay.to(cdt)
    qh, kh, vh = (x.transpose(1, 2).to(cdt) for x in (q, k, v))  # [B, H, T, *]
    n_seq = b if cu_seqlens is None else cu_seqlens.numel() - 1
    if initial_state is None:
        s0 = torch.zeros(n_seq, h, d, e, dtype=cdt, device=q.device)
    else:
        s0 = initial_state.to(cdt)
    if cu_seqlens is None:
        o, state = _chunked_one(qh, kh, vh, s, scale, s0, chunk_size)
        return o.transpose(1, 2).to(q.dtype), state
    outs, states = [], []
    bounds = cu_seqlens.tolist()
    for n in range(n_seq):
        a, z = bounds[n], bounds[n + 1]
        sl = slice(a, z)
        o, state = _chunked_one(qh[:, :, sl], kh[:, :, sl], vh[:, :, sl], s, scale, s0[n : n + 1], chunk_size)
        outs.append(o)
        states.append(state)
    return torch.cat(outs, dim=2).transpose(1, 2).to(q.dtype), torch.cat(states, dim=0)
