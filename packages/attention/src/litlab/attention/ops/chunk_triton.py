"""Lightning Attention-2 with fused Triton kernels (arXiv 2401.04658, Algorithms 1-2): autograd Function
and launch logic. The kernels are in ``triton_fwd.py`` / ``triton_bwd.py`` / ``triton_bwd_fused.py``; the
segment scheme that keeps the GPU full for long sequences with few heads is in ``triton_plan.py`` and
``triton_seg.py``; tile widths, warps and stages come from ``triton_config.CONFIG``.
"""

from __future__ import annotations

import os

import torch
from triton.tools.tensor_descriptor import TensorDescriptor

from litlab.attention.ops import triton_bwd, triton_bwd_fused, triton_fwd, triton_seg
from litlab.attention.ops.triton_common import cdiv, pad
from litlab.attention.ops.triton_config import CONFIG, launch, tile
from litlab.attention.ops.triton_plan import Plan, make_plan

POISON = False  # tests set this: every buffer a kernel must write starts as NaN


def _empty(*shape, dtype, device) -> torch.Tensor:
    if POISON:
        return torch.full(shape, float("nan"), dtype=dtype, device=device)
    return torch.empty(*shape, dtype=dtype, device=device)


def _common(plan: Plan, cu, h, kd, ed, has_decay, chunk):
    items = plan.items if plan.items is not None else cu  # any pointer when unused
    return dict(
        items=items,
        cu=cu,
        T=plan.t,
        H=h,
        KD=kd,
        ED=ed,
        C=chunk,
        SEG=plan.seg,
        G=plan.g,
        VARLEN=plan.items is not None,
        HAS_DECAY=has_decay,
    )


def _fwd(q, k, v, decay, scale, s0, cu, plan: Plan, store_st: bool, o=None, acc=False, heads=None):
    """Forward launches of one piece. ``heads`` = (SK, SE): the head widths of the contiguous tensors that q, k
    and v, o are last-dim slices of (None: q, k, v themselves are contiguous); the outputs go to ``o`` (a slice of
    the full output, added to what it holds with ``acc``) or to a new tensor."""
    b, t, h, kd = q.shape
    ed = v.shape[-1]
    kp, ep = pad(kd), pad(ed)
    be = tile("fwd", ep, kp)
    ne = cdiv(ed, be)
    ieee = q.dtype == torch.float32
    com = _common(plan, cu if cu is not None else q, h, kd, ed, decay is not None, plan.fwd_chunk)
    com.update(SK=heads[0] if heads else kd, SE=heads[1] if heads else ed)
    dec = decay if decay is not None else q
    L = LB = None
    if plan.coarse:  # the forward's own (longer) segments; LB receives the states entering the backward's
        com.update(SEG=plan.fwd_seg, G=plan.fwd_g)
        LB = _empty(plan.num_items, h, kd, ed, dtype=torch.float32, device=q.device)
    items = plan.n_seq * plan.fwd_g if plan.coarse else plan.num_items
    if plan.fwd_use_seg:
        L = _empty(items * plan.split, h, kd, ed, dtype=torch.float32, device=q.device)
        be_s = tile("seg", ep, kp)  # its own E tile: a wider one reads k fewer times
        ne_s = cdiv(ed, be_s)
        triton_seg.seg_state_kernel[(ne_s * h * items * plan.split,)](
            k, v, dec, L, SPLIT=plan.split, BK=kp, BE=be_s, NE=ne_s, IEEE=ieee, **com, **launch("seg")
        )
    if o is None:
        o = _empty(b, t, h, ed, dtype=q.dtype, device=q.device)
    st = _empty(plan.n_seq, h, kd, ed, dtype=torch.float32, device=q.device) if store_st else None
    sk, se = com["SK"], com["SE"]
    tma = plan.tma and _use_tma(q, k, v, o, cu, kp, be, (sk, se))
    if tma:
        kind = "fwd_tma_launch"
        q_, k_, v_, o_ = (
            _desc(x, plan.fwd_chunk, w, sw) for x, w, sw in ((q, kp, sk), (k, kp, sk), (v, be, se), (o, be, se))
        )
    else:
        kind = "fwd_whole" if plan.fwd_whole else "fwd_seg" if plan.fwd_use_seg else "fwd"
        q_, k_, v_, o_ = q, k, v, o
    triton_fwd.fwd_kernel[(ne * h * items,)](
        q_,
        k_,
        v_,
        o_,
        dec,
        s0 if s0 is not None else q,
        L if L is not None else q,
        LB if LB is not None else q,
        st if st is not None else q,
        scale=scale,
        SPLIT=plan.split,
        SEGB=plan.seg,
        GB=plan.g,
        BK=kp,
        BE=be,
        NE=ne,
        HAS_S0=s0 is not None,
        USE_SEG=plan.fwd_use_seg,
        STORE_ST=store_st,
        STORE_BOUNDS=plan.coarse,
        IEEE=ieee,
        ACC=acc,
        TMA=tma,
        BOUNDS_INNER=tma and bool(CONFIG["fwd_tma_bounds_inner"]),
        **com,
        **launch(kind),
    )
    return o, st, LB if plan.coarse else L


def _use_tma(q, k, v, o, cu, kp: int, be: int, heads: tuple[int, int]) -> bool:
    """Whether the forward copies its tiles with the tensor memory accelerator (``CONFIG["fwd_tma"]``): Hopper or
    newer (or the interpreter), bf16/fp16, a uniform batch (``cu`` None: chunks never straddle two sequences, so
    the rows the accelerator zero-fills past T are the only rows past a segment's end), head dims that fill their
    tiles (no columns of the next head in a tile) of a width in ``CONFIG["fwd_tma_widths"]``, whole heads unless
    ``CONFIG["fwd_tma_pieces"]``, and the 16-byte alignment of base addresses and rows it needs (``o`` None: not
    checked). ``heads`` = (SK, SE), the head widths of the contiguous tensors q, k and v, o are last-dim slices
    of: rows are H x SK (H x SE) elements apart."""
    if not CONFIG["fwd_tma"] or cu is not None or q.dtype not in (torch.bfloat16, torch.float16):
        return False
    if not CONFIG["fwd_tma_pieces"] and (q.shape[-1], v.shape[-1]) != tuple(heads):
        return False
    if kp not in CONFIG["fwd_tma_widths"]:
        return False
    if q.device.type == "cuda":
        if torch.cuda.get_device_capability(q.device)[0] < 9:
            return False
    elif os.environ.get("TRITON_INTERPRET") != "1":
        return False
    if q.shape[-1] != kp or v.shape[-1] % be:
        return False
    h, es = q.shape[2], q.element_size()
    if (h * heads[0] * es) % 16 or (h * heads[1] * es) % 16:
        return False
    return all(x.data_ptr() % 16 == 0 for x in ((q, k, v) if o is None else (q, k, v, o)))


def _desc(x: torch.Tensor, chunk: int, width: int, sw: int) -> TensorDescriptor:
    """Tensor descriptor of a [B, T, H, W] tensor laid out as a contiguous [B, T, H, SW] one (W = SW) or a
    last-dim slice of it (W < SW), as [B, T, H x SW] with [1, chunk, width] blocks; head h's columns start at
    h x SW. The strides come from the layout, not from ``x.stride()``: a contiguous tensor's size-1 dims may carry
    any stride."""
    b, t, h, w = x.shape
    return TensorDescriptor(x, [b, t, (h - 1) * sw + w], [t * h * sw, h * sw, 1], [1, chunk, width])


def _bwd(
    q, k, v, do, dst, decay, st, scale, s0, L, cu, plan: Plan, decay_grad, s0_grad, grads=None, acc=(0, 0), heads=None
):
    """Backward launches of one piece. ``grads`` = (dq, dk, dv) slices of the full gradients to write (new
    tensors when None); ``acc`` = (add to dq and dk: the E pieces after the first; add to dv: the K pieces after
    the first); ``heads`` = (SK, SE) as in ``_fwd`` (q, k, dq, dk and v, dO, dv)."""
    b, t, h, kd = q.shape
    ed = v.shape[-1]
    kp, ep = pad(kd), pad(ed)
    ieee = q.dtype == torch.float32
    com = _common(plan, cu if cu is not None else q, h, kd, ed, decay is not None, plan.bwd_chunk)
    if grads is None:
        grads = tuple(_empty(*x.shape, dtype=x.dtype, device=x.device) for x in (q, k, v))
    dq, dk, dv = grads
    com.update(SK=heads[0] if heads else kd, SE=heads[1] if heads else ed)
    acc_qk, acc_v = map(bool, acc)
    dec = decay if decay is not None else q
    dummy = q
    M = None
    if plan.use_seg:
        be = tile("dv", ep, kp)
        M = _empty(plan.num_items, h, kd, ed, dtype=torch.float32, device=q.device)
        triton_seg.seg_grad_kernel[(cdiv(ed, be) * h * plan.num_items,)](
            q, do, dec, M, scale=scale, BK=kp, BE=be, NE=cdiv(ed, be), IEEE=ieee, **com, **launch("seg")
        )
    ds0 = _empty(*s0.shape, dtype=s0.dtype, device=s0.device) if s0_grad else None
    bk_q = tile("dq", kp, ep)
    n_q = cdiv(kd, bk_q) * h * plan.num_items
    dsq = _empty(n_q if decay_grad else 1, dtype=torch.float32, device=q.device)
    opt = lambda x: x if x is not None else dummy  # noqa: E731
    tma = (
        CONFIG["dq_tma"]
        and kd % bk_q == 0
        and _use_tma(q, k, v, do, cu, kp, ep, (com["SK"], com["SE"]))
        and dq.data_ptr() % 16 == 0
    )
    if tma:
        c = plan.bwd_chunk
        q_, k_, dq_ = (_desc(x, c, bk_q, com["SK"]) for x in (q, k, dq))
        v_, do_ = (_desc(x, c, ep, com["SE"]) for x in (v, do))
    else:
        q_, k_, v_, do_, dq_ = q, k, v, do, dq
    triton_bwd.dq_kernel[(n_q,)](
        q_,
        k_,
        v_,
        do_,
        dq_,
        dec,
        opt(s0),
        opt(L),
        dsq,
        scale=scale,
        SPLIT=plan.split,
        ENTERING=plan.coarse,
        BK=bk_q,
        BE=ep,
        NK=cdiv(kd, bk_q),
        HAS_S0=s0 is not None,
        DECAY_GRAD=decay_grad,
        USE_SEG=plan.use_seg,
        IEEE=ieee,
        ACC=acc_qk,
        TMA=tma,
        **com,
        **launch("dq_tma_launch" if tma else "dq"),
    )
    rev = dict(HAS_DST=dst is not None, USE_SEG=plan.use_seg, IEEE=ieee, **com)
    if CONFIG["fuse_dkdv"]:
        n_k = h * plan.num_items
        dsk = _empty(n_k if decay_grad else 1, dtype=torch.float32, device=q.device)
        triton_bwd_fused.dkv_kernel[(n_k,)](
            q,
            k,
            v,
            do,
            dk,
            dv,
            dec,
            opt(dst),
            opt(M),
            opt(ds0),
            dsk,
            scale=scale,
            BK=kp,
            BE=ep,
            STORE_DS0=s0_grad,
            DECAY_GRAD=decay_grad,
            ACC_K=acc_qk,
            ACC_V=acc_v,
            **rev,
            **launch("dkv"),
        )
    else:
        bk = tile("dk", kp, ep)
        n_k = cdiv(kd, bk) * h * plan.num_items
        dsk = _empty(n_k if decay_grad else 1, dtype=torch.float32, device=q.device)
        triton_bwd.dk_kernel[(n_k,)](
            q,
            k,
            v,
            do,
            dk,
            dec,
            opt(dst),
            opt(M),
            opt(ds0),
            dsk,
            scale=scale,
            BK=bk,
            BE=ep,
            NK=cdiv(kd, bk),
            STORE_DS0=s0_grad,
            DECAY_GRAD=decay_grad,
            ACC=acc_qk,
            **rev,
            **launch("dk"),
        )
        be = tile("dv", ep, kp)
        triton_bwd.dv_kernel[(cdiv(ed, be) * h * plan.num_items,)](
            q,
            k,
            do,
            dv,
            dec,
            opt(dst),
            opt(M),
            scale=scale,
            BK=kp,
            BE=be,
            NE=cdiv(ed, be),
            ACC=acc_v,
            **rev,
            **launch("dv"),
        )
    ddecay = None
    if decay_grad:
        ddecay = -dsq.view(plan.num_items, h, -1).double().sum((0, 2))
        ddecay = ddecay + dsk.view(plan.num_items, h, -1).double().sum((0, 2))
        if dst is not None:
            lens = torch.full((plan.n_seq,), t, device=q.device) if cu is None else cu[1:] - cu[:-1]
            ddecay = ddecay - ((dst.double() * st.double()).sum((2, 3)) * lens[:, None]).sum(0)
        ddecay = ddecay.to(decay.dtype)
    return dq, dk, dv, ddecay, ds0


class LightningAttnFunction(torch.autograd.Function):
    """o, S_T = lightning attention of contiguous q, k, v; gradients for q, k, v, decay, S_0 and via dS_T.

    Heads wider than MAX_DIM run as pieces (K pieces x E pieces, ``_pieces``) that read q, k, v and write o and
    the gradients in place through last-dim slices (no copies): lightning attention is a sum over K pieces (q k^T
    and q S are sums over K; the state splits by rows) and independent across E pieces (state columns), so the
    K pieces after the first add their outputs to o, and in the backward dq, dk sum over E pieces and dv over K
    pieces the same way. ``plans`` maps (K piece width, E piece width) to the segment plan."""

    @staticmethod
    def forward(ctx, q, k, v, decay, s0, scale, cu, plans, store_st):
        kps, eps = _pieces(q.shape[-1]), _pieces(v.shape[-1])
        whole = len(kps) == 1 and len(eps) == 1
        heads = (q.shape[-1], v.shape[-1])  # row layout of the contiguous q, k and v, o that pieces slice
        o = st = None
        if not whole:
            o = _empty(*v.shape, dtype=q.dtype, device=q.device)
            if store_st:
                n = q.shape[0] if cu is None else cu.numel() - 1
                st = _empty(n, q.shape[2], q.shape[3], v.shape[3], dtype=torch.float32, device=q.device)
        Ls = {}
        for es in eps:
            for p, ks in enumerate(kps):
                plan = plans[(ks.stop - ks.start, es.stop - es.start)]
                s0_p = None if s0 is None else _piece_state(s0, ks, es)
                o_out = None if whole else o[..., es]
                qkv = (q[..., ks], k[..., ks], v[..., es])
                o_p, st_p, Ls[(ks.start, es.start)] = _fwd(
                    *qkv, decay, scale, s0_p, cu, plan, store_st=store_st, o=o_out, acc=p > 0, heads=heads
                )
                if whole:
                    o, st = o_p, st_p
                elif store_st:
                    st[:, :, ks, es] = st_p
        ctx.save_for_backward(q, k, v, decay, s0, st, cu)
        ctx.Ls, ctx.scale, ctx.plans = Ls, scale, plans
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
        kps, eps = _pieces(q.shape[-1]), _pieces(v.shape[-1])
        whole = len(kps) == 1 and len(eps) == 1
        heads = (q.shape[-1], v.shape[-1])
        grads = None if whole else tuple(_empty(*x.shape, dtype=x.dtype, device=x.device) for x in (q, k, v))
        ds0 = None if not s0_grad or grads is None else torch.empty_like(s0)
        ddecay = None
        for e, es in enumerate(eps):
            for p, ks in enumerate(kps):
                plan = ctx.plans[(ks.stop - ks.start, es.stop - es.start)]
                dst_p = None if dst is None else _piece_state(dst, ks, es)
                g = None if grads is None else (grads[0][..., ks], grads[1][..., ks], grads[2][..., es])
                dq, dk, dv, dd, ds0_p = _bwd(
                    q[..., ks],
                    k[..., ks],
                    v[..., es],
                    do[..., es],
                    dst_p,
                    decay,
                    None if st is None else st[:, :, ks, es],
                    ctx.scale,
                    None if s0 is None else _piece_state(s0, ks, es),
                    ctx.Ls[(ks.start, es.start)],
                    cu,
                    plan,
                    decay_grad,
                    s0_grad,
                    grads=g,
                    acc=(e > 0, p > 0),
                    heads=heads,
                )
                if grads is None:
                    grads, ds0 = (dq, dk, dv), ds0_p
                elif ds0 is not None:
                    ds0[:, :, ks, es] = ds0_p
                ddecay = dd if ddecay is None else ddecay + dd
        return *grads, ddecay, ds0, None, None, None, None


def _piece_state(x, ks, es):
    """The [N, H, ks, es] block of a state-shaped tensor as the contiguous tensor the kernels index (no copy
    when the block is the whole of a contiguous tensor)."""
    return x[:, :, ks, es].contiguous()


# Head dims above MAX_DIM run as pieces of at most MAX_DIM (see LightningAttnFunction). Single tiles wider than
# 128 gave wrong outputs (D=192) and an illegal address (D=256) on the H200 with Triton 3.6, so those widths are
# never launched.
MAX_DIM = 128


def _pieces(n: int) -> list[slice]:
    parts = cdiv(n, MAX_DIM)
    size = cdiv(n, parts)
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


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
):
    """Triton path of ``lightning_attn`` (arguments already checked). Returns (o, final state fp32 or None).
    The final state is written only with ``output_final_state`` (the backward needs it only as an output).
    ``chunk_size`` None uses the chunks of ``triton_config.CONFIG``; a value applies to every kernel."""
    b, t, h, kd = q.shape
    ed = v.shape[-1]
    cu = None if cu_seqlens is None else cu_seqlens.to(torch.int64).contiguous()
    chunks = (chunk_size, chunk_size) if chunk_size else (CONFIG["fwd_chunk"], CONFIG["bwd_chunk"])
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    plans = {}
    for ks in _pieces(kd):
        for es in _pieces(ed):
            kw, ew = ks.stop - ks.start, es.stop - es.start
            if (kw, ew) not in plans:
                kp = pad(kw)
                be = tile("fwd", pad(ew), kp)
                tma = _use_tma(q[..., ks], k[..., ks], v[..., es], None, cu, kp, be, (kd, ed))
                plans[(kw, ew)] = make_plan(b, t, h, cdiv(ew, be), cu, chunks, segment_len, q.device, tma)
    dec = None if decay is None else decay.to(torch.float32).contiguous()
    s0 = None if initial_state is None else initial_state.contiguous()
    args = (q, k, v, dec, s0, scale, cu, plans, output_final_state)
    return LightningAttnFunction.apply(*args)
