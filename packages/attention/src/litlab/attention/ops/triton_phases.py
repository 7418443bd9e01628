"""The phases of the Lightning Attention-2 Triton path (arXiv 2401.04658, Algorithms 1-2), one launcher each, in
the order they run on one piece of the heads (``chunk_triton`` cuts heads wider than 128 into pieces):

    forward    fwd_local_states  L_g, the state each segment adds, from zero   (only when sequences are cut)
               fwd_o             o, the final state, the states entering the backward's segments
    backward   bwd_local_grads   M_g, the state gradient each segment sends left (only when sequences are cut)
               bwd_dq            dq (forward sweep, state recomputed), sum_t t q.dq
               bwd_dkv           dk, dv, dS_0 (reverse sweep), sum_t t k.dk
               bwd_ddecay        ds = -sum_t t (q.dq - k.dk) - T <dS_T, S_T>, finished in float64 on the host

The kernels' docstrings give the math and the memory traffic of each phase. The segment plan (``triton_plan``)
decides whether sequences are cut; ``KernelConfig`` (``triton_config``) gives tile widths and launch options.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
from triton.tools.tensor_descriptor import TensorDescriptor

from litlab.attention.ops import triton_bwd, triton_fwd, triton_seg
from litlab.attention.ops.triton_common import cdiv, pad
from litlab.attention.ops.triton_config import KernelConfig
from litlab.attention.ops.triton_plan import Plan

POISON = False  # tests set this: every buffer a kernel must write starts as NaN


class Piece(NamedTuple):
    """One K piece x E piece of the heads: q, k [B, T, H, kw] and v, dO [B, T, H, ew] are last-dim slices of
    contiguous tensors whose head widths are sk and se (rows H x sk and H x se elements apart)."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    sk: int
    se: int


class Accumulate(NamedTuple):
    """Which outputs a piece adds to rather than writes: over K pieces (o, dv: every K piece after the first)
    and over E pieces (dq, dk: every E piece after the first)."""

    over_k: bool = False
    over_e: bool = False


def empty(*shape, dtype, device) -> torch.Tensor:
    if POISON:
        return torch.full(shape, float("nan"), dtype=dtype, device=device)
    return torch.empty(*shape, dtype=dtype, device=device)


def launch_options(cfg: KernelConfig, phase: str) -> dict:
    """num_warps / num_stages of one phase's kernel (``KernelConfig`` field ``phase``)."""
    return getattr(cfg, phase).kw()


def _common(plan: Plan, cu, p: Piece, has_decay: bool, chunk: int) -> dict:
    """Kernel arguments every phase takes: items, bounds, head sizes and strides, chunk, segments."""
    return dict(
        items=plan.items if plan.items is not None else (cu if cu is not None else p.q),  # any pointer when unused
        cu=cu if cu is not None else p.q,
        T=plan.t,
        H=p.q.shape[2],
        KD=p.q.shape[-1],
        ED=p.v.shape[-1],
        SK=p.sk,
        SE=p.se,
        C=chunk,
        SEG=plan.seg,
        G=plan.g,
        VARLEN=plan.items is not None,
        HAS_DECAY=has_decay,
    )


def _state(plan_items: int, p: Piece) -> torch.Tensor:
    """A fresh fp32 [items, H, K, E] buffer of per-item states."""
    return empty(plan_items, p.q.shape[2], p.q.shape[-1], p.v.shape[-1], dtype=torch.float32, device=p.q.device)


def fwd_local_states(p: Piece, decay, cu, plan: Plan, cfg: KernelConfig, com: dict) -> torch.Tensor:
    """L [forward items x split, H, K, E] fp32: each forward segment's (piece's) local state from zero."""
    items = plan.n_seq * plan.fwd_g if plan.coarse else plan.num_items
    kp, ep = pad(p.q.shape[-1]), pad(p.v.shape[-1])
    be = cfg.tile(cfg.local_elems, ep, kp)
    ne = cdiv(p.v.shape[-1], be)
    L = _state(items * plan.split, p)
    triton_seg.seg_state_kernel[(ne * com["H"] * items * plan.split,)](
        p.k, p.v, decay, L, SPLIT=plan.split, BK=kp, BE=be, NE=ne, IEEE=p.q.dtype == torch.float32, **com,
        **launch_options(cfg, "local"),
    )  # fmt: skip
    return L


def fwd_o(p: Piece, decay, scale, s0, L, cu, plan: Plan, cfg: KernelConfig, store_st: bool, o, acc: bool, com):
    """o (new, or added into ``o`` with ``acc``), the final state (``store_st``) and the states the backward
    reads: those entering its segments (LB, a coarser forward) or the local states L."""
    b, t, h, kd = p.q.shape
    ed = p.v.shape[-1]
    kp, ep = pad(kd), pad(ed)
    be = cfg.tile(cfg.fwd_elems, ep, kp)
    ne = cdiv(ed, be)
    LB = _state(plan.num_items, p) if plan.coarse else None  # receives the states entering the backward's segments
    items = plan.n_seq * plan.fwd_g if plan.coarse else plan.num_items
    if o is None:
        o = empty(b, t, h, ed, dtype=p.q.dtype, device=p.q.device)
    st = empty(plan.n_seq, h, kd, ed, dtype=torch.float32, device=p.q.device) if store_st else None
    tma = plan.tma and use_tma(cfg, p, o, cu, kp, be)
    if tma:
        phase = "fwd_tma"
        tensors = [_desc(x, plan.fwd_chunk, w) for x, w in ((p.q, kp), (p.k, kp), (p.v, be), (o, be))]
    else:
        phase = "fwd_whole" if plan.fwd_whole else "fwd_seg" if plan.fwd_use_seg else "fwd"
        tensors = [p.q, p.k, p.v, o]
    opt = lambda x: x if x is not None else p.q  # noqa: E731  (any pointer for an unused buffer)
    triton_fwd.fwd_kernel[(ne * h * items,)](
        *tensors, decay, opt(s0), opt(L), opt(LB), opt(st), scale=scale, SPLIT=plan.split, SEGB=plan.seg, GB=plan.g,
        BK=kp, BE=be, NE=ne, HAS_S0=s0 is not None, USE_SEG=plan.fwd_use_seg, STORE_ST=store_st,
        STORE_BOUNDS=plan.coarse, IEEE=p.q.dtype == torch.float32, ACC=acc, TMA=tma, **com,
        **launch_options(cfg, phase),
    )  # fmt: skip
    return o, st, LB if plan.coarse else L


def use_tma(cfg: KernelConfig, p: Piece, o, cu, kp: int, be: int) -> bool:
    """Whether the output phase copies its tiles with the tensor memory accelerator: a K tile width in
    ``cfg.tma_widths``, Hopper or newer (or the interpreter), bf16/fp16, a uniform batch (``cu`` None: chunks
    never straddle two sequences, so the rows the accelerator zero-fills past T are the only rows past a
    segment's end), whole heads (the 128-wide pieces of wider heads were slower with it: 2.03 vs 1.67 ms forward
    at D = 256, T = 1k, H200), head dims that fill their tiles, and 16-byte aligned base addresses and rows
    (``o`` None: not checked)."""
    q, v = p.q, p.v
    if kp not in cfg.tma_widths or cu is not None or q.dtype not in (torch.bfloat16, torch.float16):
        return False
    if (q.shape[-1], v.shape[-1]) != (p.sk, p.se) or q.shape[-1] != kp or v.shape[-1] % be:
        return False
    if q.device.type == "cuda":
        if torch.cuda.get_device_capability(q.device)[0] < 9:
            return False
    elif os.environ.get("TRITON_INTERPRET") != "1":
        return False
    if (q.shape[2] * p.sk * q.element_size()) % 16 or (q.shape[2] * p.se * q.element_size()) % 16:
        return False
    return all(x.data_ptr() % 16 == 0 for x in ((q, p.k, v) if o is None else (q, p.k, v, o)))


def _desc(x: torch.Tensor, chunk: int, width: int) -> TensorDescriptor:
    """Tensor descriptor of a contiguous [B, T, H, W] tensor as [B, T, H x W] with [1, chunk, width] blocks. The
    strides come from the layout, not from ``x.stride()``: a contiguous tensor's size-1 dims may carry any
    stride."""
    b, t, h, w = x.shape
    return TensorDescriptor(x, [b, t, h * w], [t * h * w, h * w, 1], [1, chunk, width])


def bwd_local_grads(p: Piece, do, decay, scale, cu, plan: Plan, cfg: KernelConfig, decay_grad: bool, com: dict):
    """M [items, H, K, E] fp32: each segment's local state gradient (sent to earlier segments)."""
    kp, ep = pad(p.q.shape[-1]), pad(p.v.shape[-1])
    be = cfg.tile(cfg.local_elems, ep, kp)
    ne = cdiv(p.v.shape[-1], be)
    M = _state(plan.num_items, p)
    triton_seg.seg_grad_kernel[(ne * com["H"] * plan.num_items,)](
        p.q, do, decay, M, scale=scale, BK=kp, BE=be, NE=ne, IEEE=p.q.dtype == torch.float32, DECAY_GRAD=decay_grad,
        **com, **launch_options(cfg, "local"),
    )  # fmt: skip
    return M


def bwd_dq(p: Piece, do, decay, scale, s0, L, cu, plan: Plan, cfg: KernelConfig, dq, acc, decay_grad, com):
    """dq (written into ``dq``, added with ``acc``) and, with ``decay_grad``, per-program sum_t t q.dq."""
    kd = p.q.shape[-1]
    kp, ep = pad(kd), pad(p.v.shape[-1])
    bk = cfg.tile(cfg.dq_elems, kp, ep)
    n = cdiv(kd, bk) * com["H"] * plan.num_items
    dsq = empty(n if decay_grad else 1, dtype=torch.float32, device=p.q.device)
    triton_bwd.dq_kernel[(n,)](
        p.q, p.k, p.v, do, dq, decay, s0 if s0 is not None else p.q, L if L is not None else p.q, dsq, scale=scale,
        SPLIT=plan.split, ENTERING=plan.coarse, BK=bk, BE=ep, NK=cdiv(kd, bk), HAS_S0=s0 is not None,
        DECAY_GRAD=decay_grad, USE_SEG=plan.use_seg, IEEE=p.q.dtype == torch.float32, ACC=acc, **com,
        **launch_options(cfg, "dq"),
    )  # fmt: skip
    return dsq


def bwd_dkv(
    p: Piece, do, dst, decay, scale, M, plan: Plan, cfg: KernelConfig, dk, dv, ds0, acc: Accumulate, decay_grad, com
):
    """dk, dv (written or added, ``acc``), dS_0 into ``ds0`` (when given) and, with ``decay_grad``, per-program
    sum_t t k.dk."""
    n = com["H"] * plan.num_items
    dsk = empty(n if decay_grad else 1, dtype=torch.float32, device=p.q.device)
    opt = lambda x: x if x is not None else p.q  # noqa: E731
    triton_bwd.dkv_kernel[(n,)](
        p.q, p.k, p.v, do, dk, dv, decay, opt(dst), opt(M), opt(ds0), dsk, scale=scale, BK=pad(p.q.shape[-1]),
        BE=pad(p.v.shape[-1]), HAS_DST=dst is not None, USE_SEG=plan.use_seg, STORE_DS0=ds0 is not None,
        DECAY_GRAD=decay_grad, IEEE=p.q.dtype == torch.float32, ACC_K=acc.over_e, ACC_V=acc.over_k, **com,
        **launch_options(cfg, "dkv"),
    )  # fmt: skip
    return dsk


def bwd_ddecay(dsq, dsk, dst, st, cu, plan: Plan, h: int, dtype) -> torch.Tensor:
    """ds [H] = -sum_t t (q.dq - k.dk) - sum_n T_n <dS_T, S_T>_n from the sweeps' per-program fp32 partials,
    summed in float64."""
    ds = dsk.view(plan.num_items, h, -1).double().sum((0, 2)) - dsq.view(plan.num_items, h, -1).double().sum((0, 2))
    if dst is not None:
        lens = torch.full((plan.n_seq,), plan.t, device=dst.device) if cu is None else cu[1:] - cu[:-1]
        ds = ds - ((dst.double() * st.double()).sum((2, 3)) * lens[:, None]).sum(0)
    return ds.to(dtype)


def chunk_fwd(p: Piece, decay, scale, s0, cu, plan: Plan, cfg: KernelConfig, store_st: bool, o=None, acc=False):
    """The forward of one piece: (o, final state or None, the states its backward reads)."""
    com = _common(plan, cu, p, decay is not None, plan.fwd_chunk)
    if plan.coarse:  # the forward runs its own, longer segments
        com.update(SEG=plan.fwd_seg, G=plan.fwd_g)
    dec = decay if decay is not None else p.q
    L = fwd_local_states(p, dec, cu, plan, cfg, com) if plan.fwd_use_seg else None
    return fwd_o(p, dec, scale, s0, L, cu, plan, cfg, store_st, o, acc, com)


def chunk_bwd(
    p: Piece,
    do,
    dst,
    decay,
    st,
    scale,
    s0,
    L,
    cu,
    plan: Plan,
    cfg: KernelConfig,
    grads,
    acc: Accumulate,
    decay_grad: bool,
    s0_grad: bool,
):
    """The backward of one piece into ``grads`` = (dq, dk, dv) (slices of the full gradients): returns (ds or
    None, dS_0 or None)."""
    com = _common(plan, cu, p, decay is not None, plan.bwd_chunk)
    dec = decay if decay is not None else p.q
    M = bwd_local_grads(p, do, dec, scale, cu, plan, cfg, decay_grad, com) if plan.use_seg else None
    ds0 = empty(*s0.shape, dtype=s0.dtype, device=s0.device) if s0_grad else None
    dsq = bwd_dq(p, do, dec, scale, s0, L, cu, plan, cfg, grads[0], acc.over_e, decay_grad, com)
    dsk = bwd_dkv(p, do, dst, dec, scale, M, plan, cfg, grads[1], grads[2], ds0, acc, decay_grad, com)
    ddecay = bwd_ddecay(dsq, dsk, dst, st, cu, plan, p.q.shape[2], decay.dtype) if decay_grad else None
    return ddecay, ds0
