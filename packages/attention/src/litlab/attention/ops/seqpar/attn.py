"""Sequence-parallel Lightning Attention (LASP-2, arXiv 2502.07563, Sec. 3 and Alg. 1-2; LASP arXiv 2404.02882).

Rank r of P holds the contiguous piece [R_r, R_r + T_r) of the time axis. Per sequence and head, with
lambda = exp(-s) and the state entering the piece S_in(r):

    o_t   = o_t^0 + scale * lambda^(t - R_r + 1) q_t S_in(r)     (tokens of the sequence crossing R_r)
    S_out = L_r + A_r S_in(r),   A_r = lambda^(T_r) if that sequence covers the whole piece, else 0

where o^0 and L_r (the state at the piece's end) come from the one-device op started from a zero state
(Lightning Attention-2 is linear in its initial state: op(q, k, v, S) = op(q, k, v, 0) + the S term).
ONE all-gather exchanges (L_j, A_j) of every rank; the prefix combination

    S_in(r) = sum_{j < r} (prod_{j < m < r} A_m) L_j        (S <- A_j S + L_j over j = 0 .. r - 1)

gives each rank its entering state, which finishes its outputs. The backward is the same in reverse: the
gather's backward sums the cotangents of (L_j, A_j) over the ranks that read them (a reduce-scatter), so
rank j's local op receives d L_j, and the slope gradient of A_j and of the lambda powers flows with them.
Replicated inputs (decay, initial_state) receive per-rank partial gradients that sum to the full gradient.
"""

from __future__ import annotations

import torch

from litlab.attention.ops import checks
from litlab.attention.ops.seqpar.comm import gather_ranks, group_rank, group_size
from litlab.attention.ops.seqpar.plan import PiecePlan, plan_piece


def _local_initial(plan: PiecePlan, initial_state, dtype):
    """Initial states of the local rows: the given ones where a sequence starts here, else zero."""
    if initial_state is None:
        return None
    starts = torch.tensor(plan.starts_here, device=initial_state.device)[:, None, None, None]
    rows = initial_state[plan.lo : plan.hi + 1].to(dtype)
    return torch.where(starts, rows, torch.zeros((), dtype=dtype, device=rows.device))


def _combine(gathered: torch.Tensor, rank: int, carry_shape, num_heads: int) -> torch.Tensor:
    """Entering state of `rank` from the gathered [P, numel(L) + H] rows: S <- A_j S + L_j, j < rank."""
    n_state = gathered.shape[1] - num_heads
    states = gathered[:, :n_state].unflatten(1, carry_shape)  # [P, Bc, H, D, E]
    factors = gathered[:, n_state:]  # [P, H]
    s_in = states[0] * 0  # keeps the gathered rows in every rank's graph (rank 0's included)
    for j in range(rank):
        s_in = factors[j][None, :, None, None] * s_in + states[j]
    return s_in


def _entering_term(q, s_in, s, scale):
    """scale * lambda^(i+1) q_i S_in for the tokens i of q [Bc, f, H, D]: [Bc, f, H, E] in S_in's dtype."""
    q = q.to(s_in.dtype)
    if s is not None:
        pos = torch.arange(1, q.shape[1] + 1, device=q.device, dtype=s_in.dtype)
        q = q * torch.exp(-s[:, None] * pos).transpose(0, 1)[None, :, :, None]  # (.., f, H, 1)
    return scale * torch.einsum("bthd,bhde->bthe", q, s_in)


def seqpar_lightning_attn(q, k, v, decay, *, scale, initial_state, output_final_state, cu_seqlens, backend, group):
    """`lightning_attn` over a sequence split across the ranks of `group` (shapes as there, per rank).

    Each rank passes its piece q, k: [B, T_r, H, D], v: [B, T_r, H, E] (rank order = time order; any T_r
    >= 1 without packing, equal T_r with cu_seqlens, whose offsets are global: c_N = P * T_r), the same
    decay, and the same initial_state (only the rows of sequences that start on a rank are read there).
    Returns its piece of o and, with output_final_state, the [N, H, D, E] final states of the sequences that
    END on this rank (the other rows 0: without packing the last rank holds them all). Every rank must
    backpropagate through its o (the backward joins one collective). A group of one rank is the plain op.
    """
    from litlab.attention.ops.api import lightning_attn

    size, rank = group_size(group), group_rank(group)
    if size == 1:
        kwargs = dict(initial_state=initial_state, output_final_state=output_final_state, cu_seqlens=cu_seqlens)
        return lightning_attn(q, k, v, decay, scale=scale, backend=backend, **kwargs)
    checks.check_qkv(q, k, v, "B, T, H")
    b, t, h, d = q.shape
    e = v.shape[-1]
    if t < 1:
        raise ValueError(f"q: got T_r = {t} on rank {rank} of {size}, expected at least one token per rank")
    checks.check_decay(decay, h, q.device)
    scale = checks.check_scale(scale, d)
    plan = plan_piece(cu_seqlens, b, t, rank, size)
    cdt = torch.float64 if q.dtype == torch.float64 else torch.float32
    if initial_state is not None:
        checks.check_state("initial_state", initial_state, (plan.num_seq, h, d, e), q)
    init = _local_initial(plan, initial_state, cdt)
    o, st = lightning_attn(q, k, v, decay, scale=scale, initial_state=init, output_final_state=True,
                           cu_seqlens=plan.local_cu, backend=backend)  # fmt: skip
    s = None if decay is None else decay.to(cdt)
    carry = st[-1:] if cu_seqlens is not None else st  # [Bc, H, D, E]: the state leaving the piece
    through = 1.0 if plan.through else 0.0
    factor = torch.full((h,), through, dtype=cdt, device=q.device) if s is None else torch.exp(-s * t) * through
    gathered = gather_ranks(torch.cat([carry.flatten(), factor]), group)  # the one collective
    s_in = _combine(gathered, rank, carry.shape, h)
    if not plan.continued:
        o = o + (s_in.sum() * 0).to(o.dtype)  # rank 0 (or a fresh start): no entering state, same graph
    else:
        f = plan.first_len
        head = (o[:, :f].to(cdt) + _entering_term(q[:, :f], s_in, s, scale)).to(o.dtype)
        o = torch.cat([head, o[:, f:]], dim=1)
        decayed = s_in if s is None else torch.exp(-s * f)[None, :, None, None] * s_in
        st = torch.cat([st[: decayed.shape[0]] + decayed, st[decayed.shape[0] :]], dim=0)
    if not output_final_state:
        return o, None
    ends = torch.tensor(plan.ends_here, device=q.device)[:, None, None, None]
    mine = torch.where(ends, st, torch.zeros((), dtype=st.dtype, device=st.device))
    pad = (plan.lo, plan.num_seq - plan.hi - 1)
    return o, torch.cat([mine.new_zeros(pad[0], h, d, e), mine, mine.new_zeros(pad[1], h, d, e)], dim=0)
