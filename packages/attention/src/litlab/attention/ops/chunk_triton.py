"""Lightning Attention-2 with fused Triton kernels (arXiv 2401.04658, Algorithms 1-2): the autograd Function.

Per sequence and head, S_t = lambda S_{t-1} + k_t^T v_t and o_t = scale q_t S_t, computed by chunks of C tokens
(intra-chunk masked product + inter-chunk product with the fp32 state). The forward runs
``triton_phases.chunk_fwd`` (local states, then outputs) and the backward ``triton_phases.chunk_bwd`` (local
state gradients, dq sweep, dk + dv sweep, decay gradient), once per piece of the heads: heads wider than MAX_DIM
run as K pieces x E pieces that read q, k, v and write o and the gradients in place through last-dim slices (no
copies). Lightning attention is a sum over K pieces (q k^T and q S are sums over K; the state splits by rows)
and independent across E pieces (state columns), so the K pieces after the first add their outputs to o, and in
the backward dq, dk sum over E pieces and dv over K pieces. How sequences are cut into segments is
``triton_plan``; tile widths and launch options are the frozen ``KernelConfig`` of ``triton_config``.
"""

from __future__ import annotations

import dataclasses

import torch

from litlab.attention.ops.triton_common import cdiv, pad
from litlab.attention.ops.triton_config import KernelConfig, default_config
from litlab.attention.ops.triton_phases import Accumulate, Piece, chunk_bwd, chunk_fwd, empty, use_tma
from litlab.attention.ops.triton_plan import make_plan

# Single tiles wider than 128 gave wrong outputs (D=192) and an illegal address (D=256) on the H200 with
# Triton 3.6, so wider heads run as pieces of at most MAX_DIM.
MAX_DIM = 128


def _pieces(n: int) -> list[slice]:
    parts = cdiv(n, MAX_DIM)
    size = cdiv(n, parts)
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _grid(q, v):
    """(K piece index, K slice, E piece index, E slice) for every piece, E outermost."""
    return [(p, ks, e, es) for e, es in enumerate(_pieces(v.shape[-1])) for p, ks in enumerate(_pieces(q.shape[-1]))]


def _block(x, ks, es):
    """The [N, H, ks, es] block of a state-shaped tensor as the contiguous tensor the kernels index (no copy
    when the block is the whole of a contiguous tensor)."""
    return None if x is None else x[:, :, ks, es].contiguous()


def _width(ks, es) -> tuple[int, int]:
    return ks.stop - ks.start, es.stop - es.start


class LightningAttnFunction(torch.autograd.Function):
    """o, S_T = lightning attention of contiguous q, k, v; gradients for q, k, v, decay, S_0 and via dS_T.
    ``plans`` maps (K piece width, E piece width) to the segment plan."""

    @staticmethod
    def forward(ctx, q, k, v, decay, s0, scale, cu, plans, cfg, store_st):
        grid = _grid(q, v)
        whole = len(grid) == 1
        sk, se = q.shape[-1], v.shape[-1]  # row layout of the contiguous q, k and v, o that the pieces slice
        o = None if whole else empty(*v.shape, dtype=q.dtype, device=q.device)
        st = None
        if store_st and not whole:
            n = q.shape[0] if cu is None else cu.numel() - 1
            st = empty(n, q.shape[2], sk, se, dtype=torch.float32, device=q.device)
        states = {}
        for p, ks, _, es in grid:
            piece = Piece(q[..., ks], k[..., ks], v[..., es], sk, se)
            o_p, st_p, states[(ks.start, es.start)] = chunk_fwd(
                piece, decay, scale, _block(s0, ks, es), cu, plans[_width(ks, es)], cfg, store_st,
                o=None if whole else o[..., es], acc=p > 0,
            )
            if whole:
                o, st = o_p, st_p
            elif store_st:
                st[:, :, ks, es] = st_p
        ctx.save_for_backward(q, k, v, decay, s0, st, cu)
        ctx.states, ctx.scale, ctx.plans, ctx.cfg = states, scale, plans, cfg
        ctx.set_materialize_grads(False)
        return o, st

    @staticmethod
    def backward(ctx, do, dst):
        q, k, v, decay, s0, st, cu = ctx.saved_tensors
        if do is None:
            do = torch.zeros(*q.shape[:3], v.shape[-1], dtype=q.dtype, device=q.device)
        do = do.contiguous()
        decay_grad = decay is not None and ctx.needs_input_grad[3]
        s0_grad = s0 is not None and ctx.needs_input_grad[4]
        grid = _grid(q, v)
        whole = len(grid) == 1
        grads = tuple(empty(*x.shape, dtype=x.dtype, device=x.device) for x in (q, k, v))
        ds0 = torch.empty_like(s0) if s0_grad and not whole else None
        ddecay = None
        for p, ks, e, es in grid:
            piece = Piece(q[..., ks], k[..., ks], v[..., es], q.shape[-1], v.shape[-1])
            dd, ds0_p = chunk_bwd(
                piece, do[..., es], _block(dst, ks, es), decay, None if st is None else st[:, :, ks, es], ctx.scale,
                _block(s0, ks, es), ctx.states[(ks.start, es.start)], cu, ctx.plans[_width(ks, es)], ctx.cfg,
                (grads[0][..., ks], grads[1][..., ks], grads[2][..., es]), Accumulate(over_k=p > 0, over_e=e > 0),
                decay_grad, s0_grad,
            )
            if whole:
                ds0 = ds0_p
            elif ds0 is not None:
                ds0[:, :, ks, es] = ds0_p
            ddecay = dd if ddecay is None else ddecay + dd
        return *grads, ddecay, ds0, None, None, None, None, None


def triton_lightning_attn(
    q,
    k,
    v,
    decay,
    scale,
    initial_state,
    cu_seqlens,
    output_final_state,
    chunk_size: int | None = None,
    segment_len: int | None = None,
    config: KernelConfig | None = None,
):
    """Triton path of ``lightning_attn`` (arguments already checked). Returns (o, final state fp32 or None).
    The final state is written only with ``output_final_state`` (the backward needs it only as an output).
    ``config`` None uses ``default_config(q.device)``; ``chunk_size`` overrides both of its chunks;
    ``segment_len`` None lets the plan choose."""
    b, t, h, kd = q.shape
    ed = v.shape[-1]
    cfg = default_config(q.device) if config is None else config
    if chunk_size:
        cfg = dataclasses.replace(cfg, fwd_chunk=chunk_size, bwd_chunk=chunk_size)
    cu = None if cu_seqlens is None else cu_seqlens.to(torch.int64).contiguous()
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    plans = {}
    for _, ks, _, es in _grid(q, v):
        kw, ew = _width(ks, es)
        if (kw, ew) not in plans:
            kp = pad(kw)
            be = cfg.tile(cfg.fwd_elems, pad(ew), kp)
            tma = use_tma(cfg, Piece(q[..., ks], k[..., ks], v[..., es], kd, ed), None, cu, kp, be)
            plans[(kw, ew)] = make_plan(b, t, h, cdiv(ew, be), cu, cfg, segment_len, q.device, tma)
    dec = None if decay is None else decay.to(torch.float32).contiguous()
    s0 = None if initial_state is None else initial_state.contiguous()
    return LightningAttnFunction.apply(q, k, v, dec, s0, scale, cu, plans, cfg, output_final_state)
