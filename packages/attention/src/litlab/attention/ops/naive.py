"""O(T^2) reference for Lightning Attention (arXiv 2401.04658, Eq. 1-3; the closed form).

    O   = scale * [ (Q K^T (.) D) V + diag(lambda^{i+1}) Q S_0 ],   D[i, j] = lambda^{i-j} for i >= j else 0
    S_T = lambda^T S_0 + sum_j lambda^{T-1-j} k_j^T v_j

Decay exponents are formed as -s*m with m >= 0 (the upper triangle is masked to -inf before exp), so no
factor ever overflows. Computed in float64 when the inputs are float64, else in float32. Used as the test
reference (its gradients come from autograd) and selectable with ``backend="naive"``.
"""

from __future__ import annotations

import torch


def _decay_matrix(s: torch.Tensor, t: int) -> torch.Tensor:
    """[H, T, T] with lambda^{i-j} on and below the diagonal and 0 above."""
    pos = torch.arange(t, device=s.device)
    diff = (pos[:, None] - pos[None, :]).to(s.dtype)  # i - j
    logd = -s[:, None, None] * diff.clamp(min=0)
    return torch.where(diff >= 0, logd.exp(), torch.zeros((), dtype=s.dtype, device=s.device))


def _naive_one(q, k, v, s, scale, s0):
    """One sequence. q, k: [B, T, H, D]; v: [B, T, H, E]; s: [H]; s0: [B, H, D, E] or None."""
    t = q.shape[1]
    dmat = _decay_matrix(s, t)  # [H, T, T]
    scores = torch.einsum("bihd,bjhd->bhij", q, k) * dmat
    o = torch.einsum("bhij,bjhe->bihe", scores, v)
    w_k = torch.exp(-s[:, None] * (t - 1 - torch.arange(t, device=s.device, dtype=s.dtype)))  # [H, T]
    state = torch.einsum("bthd,ht,bthe->bhde", k, w_k, v)
    if s0 is not None:
        w_q = torch.exp(-s[:, None] * (1 + torch.arange(t, device=s.device, dtype=s.dtype)))  # [H, T]
        o = o + torch.einsum("bthd,ht,bhde->bthe", q, w_q, s0)
        state = state + torch.exp(-s * t)[None, :, None, None] * s0
    return o * scale, state


def naive_lightning_attn(q, k, v, decay, scale, initial_state, cu_seqlens):
    """Masked O(T^2) form. Shapes as in ``lightning_attn``; returns (o in q.dtype, final state)."""
    cdt = torch.float64 if q.dtype == torch.float64 else torch.float32
    h = q.shape[2]
    s = torch.zeros(h, dtype=cdt, device=q.device) if decay is None else decay.to(cdt)
    qc, kc, vc = q.to(cdt), k.to(cdt), v.to(cdt)
    s0 = None if initial_state is None else initial_state.to(cdt)
    if cu_seqlens is None:
        o, state = _naive_one(qc, kc, vc, s, scale, s0)
        return o.to(q.dtype), state
    outs, states = [], []
    bounds = cu_seqlens.tolist()
    for n in range(len(bounds) - 1):
        a, b = bounds[n], bounds[n + 1]
        s0n = None if s0 is None else s0[n : n + 1]
        o, state = _naive_one(qc[:, a:b], kc[:, a:b], vc[:, a:b], s, scale, s0n)
        outs.append(o)
        states.append(state)
    return torch.cat(outs, dim=1).to(q.dtype), torch.cat(states, dim=0)
