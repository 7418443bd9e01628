"""Backward Triton kernels of Lightning Attention-2 (arXiv 2401.04658, Algorithm 2; spec section 1.4),
written with the a = 1 split and the state gradient G_[n] entering chunk n from the right:

    dQ_n  = scale * [ ((dO_n V_n^T) (.) D_c) K_n + Gamma_q dO_n S_[n]^T ]      forward sweep, S recomputed
    dK_n  = ((dO_n V_n^T) (.) D_c)^T Q~_n + Gamma_k V_n G_[n+1]^T              reverse sweep
    dV_n  = ((Q~_n K_n^T) (.) D_c)^T dO_n + Gamma_k K_n G_[n+1]                 reverse sweep
    G_[n] = lambda^c G_[n+1] + (Gamma_q Q~_n)^T dO_n,   dS_0 = G_[0],   Q~ = scale Q

dq and dk programs own a K tile (state tile [BK, E]); dv programs own an E tile ([K, BE]), so no partial
sums cross programs (ACC: the kernel adds its tile to what the gradient holds, for pieces of heads wider than
128). With a decay that needs a gradient, the dq/dk programs also return their share of
    ds = - sum_t t (q_t . dq_t - k_t . dk_t) - T <dS_T, S_T>      (t 1-based within each sequence).
"""

import triton
import triton.language as tl

from litlab.attention.ops.triton_common import (
    grad_leaving,
    item_bounds,
    load_tile,
    masked_decay,
    mm,
    state_entering,
    store_tile,
)


@triton.jit
def dq_kernel(
    q,
    k,
    v,
    do,
    dq,
    decay,
    S0,
    L,
    dsq,
    items,
    cu,
    T,
    scale,
    H: tl.constexpr,
    KD: tl.constexpr,
    ED: tl.constexpr,
    SK: tl.constexpr,
    SE: tl.constexpr,
    C: tl.constexpr,
    SEG,
    G,
    SPLIT,
    BK: tl.constexpr,
    BE: tl.constexpr,
    NK: tl.constexpr,
    VARLEN: tl.constexpr,
    HAS_DECAY: tl.constexpr,
    HAS_S0: tl.constexpr,
    USE_SEG: tl.constexpr,
    ENTERING: tl.constexpr,
    DECAY_GRAD: tl.constexpr,
    IEEE: tl.constexpr,
    ACC: tl.constexpr = False,
    TMA: tl.constexpr = False,
):
    """Forward sweep of one (K tile, head, item) with the state tile [BK, BE = all of E]. TMA: q, k, dq (blocks
    [1, C, BK]) and v, dO ([1, C, BE]) are tensor descriptors, as in the forward kernel."""
    pid = tl.program_id(0).to(tl.int64)
    i_k, i_h, i_item = pid % NK, (pid // NK) % H, pid // (NK * H)
    i_n, g, bos, eos, ss, se, n_seg = item_bounds(i_item, items, cu, T, SEG, G, VARLEN)
    s = tl.load(decay + i_h).to(tl.float32) if HAS_DECAY else 0.0
    if TMA:  # descriptor coordinates are int32
        dt = q.dtype
        n32, ck, ce = i_n.to(tl.int32), (i_h * SK + i_k * BK).to(tl.int32), (i_h * SE).to(tl.int32)
    else:
        dt = q.dtype.element_ty
    offs_c = tl.arange(0, C)
    offs_k = i_k * BK + tl.arange(0, BK)
    offs_e = tl.arange(0, BE)
    m_k, m_e = offs_k < KD, offs_e < ED
    state = state_entering(
        S0,
        L,
        i_n,
        i_h,
        i_item,
        g,
        bos,
        ss,
        s,
        H,
        KD,
        ED,
        SEG,
        SPLIT,
        offs_k,
        offs_e,
        m_k,
        m_e,
        HAS_S0,
        USE_SEG,
        HAS_DECAY,
        ENTERING,
    )  # [BK, BE]
    ds_acc = 0.0
    for cs in range(ss, se, C):
        c = tl.minimum(se - cs, C)
        rows = cs + offs_c
        m_t = offs_c < c
        if TMA:
            t0 = (cs - bos).to(tl.int32)
            kt = k.load([n32, t0, ck]).reshape(C, BK)
            vt = v.load([n32, t0, ce]).reshape(C, BE)
            dot = do.load([n32, t0, ce]).reshape(C, BE)
        else:
            kt = load_tile(k + i_h * SK, rows, offs_k, H * SK, m_t, m_k)  # [C, BK]
            vt = load_tile(v + i_h * SE, rows, offs_e, H * SE, m_t, m_e)  # [C, BE]
            dot = load_tile(do + i_h * SE, rows, offs_e, H * SE, m_t, m_e)  # [C, BE]
        dov = masked_decay(mm(dot, tl.trans(vt), dt, IEEE), offs_c, s, HAS_DECAY)  # [C, C]
        inter = mm(dot, tl.trans(state), dt, IEEE)  # [C, BK]
        if HAS_DECAY:
            inter = inter * tl.exp(-s * (offs_c + 1).to(tl.float32))[:, None]
            state = state * tl.exp(-s * c.to(tl.float32))
            vt = vt * tl.exp(-s * tl.maximum(c - 1 - offs_c, 0).to(tl.float32))[:, None]
        dqt = (mm(dov, kt, dt, IEEE) + inter) * scale
        if TMA:
            if ACC:  # dqt itself stays this piece's share (the decay gradient below)
                dq.store(
                    [n32, t0, ck], (dqt + dq.load([n32, t0, ck]).reshape(C, BK).to(tl.float32)).to(dt).reshape(1, C, BK)
                )
            else:
                dq.store([n32, t0, ck], dqt.to(dt).reshape(1, C, BK))
        else:
            store_tile(dq + i_h * SK, dqt, rows, offs_k, H * SK, m_t, m_k, ACC)
        state += mm(tl.trans(kt), vt, dt, IEEE)
        if DECAY_GRAD:
            if TMA:  # rows past the sequence's end read as zero
                qt = q.load([n32, t0, ck]).reshape(C, BK).to(tl.float32)
            else:
                qt = load_tile(q + i_h * SK, rows, offs_k, H * SK, m_t, m_k).to(tl.float32)
            ds_acc += tl.sum(tl.sum(qt * dqt, axis=1) * (rows - bos + 1).to(tl.float32))
    if DECAY_GRAD:
        tl.store(dsq + pid, ds_acc)


@triton.jit
def dk_kernel(
    q,
    k,
    v,
    do,
    dk,
    decay,
    dST,
    M,
    dS0,
    dsk,
    items,
    cu,
    T,
    scale,
    H: tl.constexpr,
    KD: tl.constexpr,
    ED: tl.constexpr,
    SK: tl.constexpr,
    SE: tl.constexpr,
    C: tl.constexpr,
    SEG,
    G,
    BK: tl.constexpr,
    BE: tl.constexpr,
    NK: tl.constexpr,
    VARLEN: tl.constexpr,
    HAS_DECAY: tl.constexpr,
    HAS_DST: tl.constexpr,
    USE_SEG: tl.constexpr,
    STORE_DS0: tl.constexpr,
    DECAY_GRAD: tl.constexpr,
    IEEE: tl.constexpr,
    ACC: tl.constexpr = False,
):
    """Reverse sweep of one (K tile, head, item) with the state gradient tile [BK, BE = all of E]."""
    pid = tl.program_id(0).to(tl.int64)
    i_k, i_h, i_item = pid % NK, (pid // NK) % H, pid // (NK * H)
    i_n, g, bos, eos, ss, se, n_seg = item_bounds(i_item, items, cu, T, SEG, G, VARLEN)
    s = tl.load(decay + i_h).to(tl.float32) if HAS_DECAY else 0.0
    dt = q.dtype.element_ty
    offs_c = tl.arange(0, C)
    offs_k = i_k * BK + tl.arange(0, BK)
    offs_e = tl.arange(0, BE)
    m_k, m_e = offs_k < KD, offs_e < ED
    gs = grad_leaving(
        dST,
        M,
        i_n,
        i_h,
        i_item,
        g,
        n_seg,
        eos,
        bos,
        se,
        s,
        H,
        KD,
        ED,
        SEG,
        offs_k,
        offs_e,
        m_k,
        m_e,
        HAS_DST,
        USE_SEG,
        HAS_DECAY,
    )  # [BK, BE]
    ds_acc = 0.0
    n_chunks = tl.cdiv(se - ss, C)
    for r in range(0, n_chunks):
        cs = ss + (n_chunks - 1 - r) * C
        c = tl.minimum(se - cs, C)
        rows = cs + offs_c
        m_t = offs_c < c
        qt = load_tile(q + i_h * SK, rows, offs_k, H * SK, m_t, m_k)  # [C, BK]
        vt = load_tile(v + i_h * SE, rows, offs_e, H * SE, m_t, m_e)  # [C, BE]
        dot = load_tile(do + i_h * SE, rows, offs_e, H * SE, m_t, m_e)  # [C, BE]
        dov = masked_decay(mm(dot, tl.trans(vt), dt, IEEE), offs_c, s, HAS_DECAY)  # [C(i), C(j)]
        inter = mm(vt, tl.trans(gs), dt, IEEE)  # [C, BK]
        if HAS_DECAY:
            inter = inter * tl.exp(-s * tl.maximum(c - 1 - offs_c, 0).to(tl.float32))[:, None]
            gs = gs * tl.exp(-s * c.to(tl.float32))
            dot = dot * tl.exp(-s * (offs_c + 1).to(tl.float32))[:, None]
        dkt = mm(tl.trans(dov), qt, dt, IEEE) * scale + inter
        store_tile(dk + i_h * SK, dkt, rows, offs_k, H * SK, m_t, m_k, ACC)
        gs += mm(tl.trans(qt), dot, dt, IEEE) * scale
        if DECAY_GRAD:
            kt = load_tile(k + i_h * SK, rows, offs_k, H * SK, m_t, m_k).to(tl.float32)
            ds_acc += tl.sum(tl.sum(kt * dkt, axis=1) * (rows - bos + 1).to(tl.float32))
    if STORE_DS0:
        if g == 0:
            ptr = dS0 + (i_n * H + i_h) * KD * ED
            tl.store(ptr + offs_k[:, None] * ED + offs_e[None, :], gs, mask=m_k[:, None] & m_e[None, :])
    if DECAY_GRAD:
        tl.store(dsk + pid, ds_acc)


@triton.jit
def dv_kernel(
    q,
    k,
    do,
    dv,
    decay,
    dST,
    M,
    items,
    cu,
    T,
    scale,
    H: tl.constexpr,
    KD: tl.constexpr,
    ED: tl.constexpr,
    SK: tl.constexpr,
    SE: tl.constexpr,
    C: tl.constexpr,
    SEG,
    G,
    BK: tl.constexpr,
    BE: tl.constexpr,
    NE: tl.constexpr,
    VARLEN: tl.constexpr,
    HAS_DECAY: tl.constexpr,
    HAS_DST: tl.constexpr,
    USE_SEG: tl.constexpr,
    IEEE: tl.constexpr,
    ACC: tl.constexpr = False,
):
    """Reverse sweep of one (E tile, head, item) with the state gradient tile [BK = all of K, BE]."""
    pid = tl.program_id(0).to(tl.int64)
    i_e, i_h, i_item = pid % NE, (pid // NE) % H, pid // (NE * H)
    i_n, g, bos, eos, ss, se, n_seg = item_bounds(i_item, items, cu, T, SEG, G, VARLEN)
    s = tl.load(decay + i_h).to(tl.float32) if HAS_DECAY else 0.0
    dt = q.dtype.element_ty
    offs_c = tl.arange(0, C)
    offs_k = tl.arange(0, BK)
    offs_e = i_e * BE + tl.arange(0, BE)
    m_k, m_e = offs_k < KD, offs_e < ED
    gs = grad_leaving(
        dST,
        M,
        i_n,
        i_h,
        i_item,
        g,
        n_seg,
        eos,
        bos,
        se,
        s,
        H,
        KD,
        ED,
        SEG,
        offs_k,
        offs_e,
        m_k,
        m_e,
        HAS_DST,
        USE_SEG,
        HAS_DECAY,
    )  # [BK, BE]
    n_chunks = tl.cdiv(se - ss, C)
    for r in range(0, n_chunks):
        cs = ss + (n_chunks - 1 - r) * C
        c = tl.minimum(se - cs, C)
        rows = cs + offs_c
        m_t = offs_c < c
        qt = load_tile(q + i_h * SK, rows, offs_k, H * SK, m_t, m_k)  # [C, BK]
        kt = load_tile(k + i_h * SK, rows, offs_k, H * SK, m_t, m_k)  # [C, BK]
        dot = load_tile(do + i_h * SE, rows, offs_e, H * SE, m_t, m_e)  # [C, BE]
        qk = masked_decay(mm(qt, tl.trans(kt), dt, IEEE), offs_c, s, HAS_DECAY)  # [C(i), C(j)]
        inter = mm(kt, gs, dt, IEEE)  # [C, BE]
        if HAS_DECAY:
            inter = inter * tl.exp(-s * tl.maximum(c - 1 - offs_c, 0).to(tl.float32))[:, None]
            gs = gs * tl.exp(-s * c.to(tl.float32))
            dot_q = dot * tl.exp(-s * (offs_c + 1).to(tl.float32))[:, None]
        else:
            dot_q = dot
        dvt = mm(tl.trans(qk), dot, dt, IEEE) * scale + inter
        store_tile(dv + i_h * SE, dvt, rows, offs_e, H * SE, m_t, m_e, ACC)
        gs += mm(tl.trans(qt), dot_q, dt, IEEE) * scale
