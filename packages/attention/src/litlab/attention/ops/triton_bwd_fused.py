"""Fused reverse sweep of the Lightning Attention-2 backward (arXiv 2401.04658, Algorithm 2; spec 1.4):
dK and dV of one (head, item) in one pass, with the whole state gradient G [K, E] on chip:

    dK_n  = ((dO_n V_n^T) (.) D_c)^T Q~_n + Gamma_k V_n G_[n+1]^T
    dV_n  = ((Q~_n K_n^T) (.) D_c)^T dO_n + Gamma_k K_n G_[n+1]
    G_[n] = lambda^c G_[n+1] + (Gamma_q Q~_n)^T dO_n,   dS_0 = G_[0]

It reads q, k, v, dO once and writes dk, dv (the separate ``dk_kernel``/``dv_kernel`` of ``triton_bwd.py``
read q and dO twice and tile K or E). With a decay gradient it returns sum_t t k_t . dk_t per program.
"""

import triton
import triton.language as tl

from litlab.attention.ops.triton_common import grad_leaving, item_bounds, load_tile, masked_decay, mm, store_tile


@triton.jit
def dkv_kernel(
    q,
    k,
    v,
    do,
    dk,
    dv,
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
    VARLEN: tl.constexpr,
    HAS_DECAY: tl.constexpr,
    HAS_DST: tl.constexpr,
    USE_SEG: tl.constexpr,
    STORE_DS0: tl.constexpr,
    DECAY_GRAD: tl.constexpr,
    IEEE: tl.constexpr,
    ACC_K: tl.constexpr = False,
    ACC_V: tl.constexpr = False,
):
    """Reverse sweep of one (head, item) with the state gradient [BK = all of K, BE = all of E]."""
    pid = tl.program_id(0).to(tl.int64)
    i_h, i_item = pid % H, pid // H
    i_n, g, bos, eos, ss, se, n_seg = item_bounds(i_item, items, cu, T, SEG, G, VARLEN)
    s = tl.load(decay + i_h).to(tl.float32) if HAS_DECAY else 0.0
    dt = q.dtype.element_ty
    offs_c = tl.arange(0, C)
    offs_k = tl.arange(0, BK)
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
        kt = load_tile(k + i_h * SK, rows, offs_k, H * SK, m_t, m_k)  # [C, BK]
        vt = load_tile(v + i_h * SE, rows, offs_e, H * SE, m_t, m_e)  # [C, BE]
        dot = load_tile(do + i_h * SE, rows, offs_e, H * SE, m_t, m_e)  # [C, BE]
        dov = masked_decay(mm(dot, tl.trans(vt), dt, IEEE), offs_c, s, HAS_DECAY)  # [C(i), C(j)]
        qk = masked_decay(mm(qt, tl.trans(kt), dt, IEEE), offs_c, s, HAS_DECAY)  # [C(i), C(j)]
        inter_k = mm(vt, tl.trans(gs), dt, IEEE)  # [C, BK]
        inter_v = mm(kt, gs, dt, IEEE)  # [C, BE]
        if HAS_DECAY:
            gam_k = tl.exp(-s * tl.maximum(c - 1 - offs_c, 0).to(tl.float32))[:, None]
            inter_k = inter_k * gam_k
            inter_v = inter_v * gam_k
            gs = gs * tl.exp(-s * c.to(tl.float32))
            dot_q = dot * tl.exp(-s * (offs_c + 1).to(tl.float32))[:, None]
        else:
            dot_q = dot
        dkt = mm(tl.trans(dov), qt, dt, IEEE) * scale + inter_k
        dvt = mm(tl.trans(qk), dot, dt, IEEE) * scale + inter_v
        store_tile(dk + i_h * SK, dkt, rows, offs_k, H * SK, m_t, m_k, ACC_K)
        store_tile(dv + i_h * SE, dvt, rows, offs_e, H * SE, m_t, m_e, ACC_V)
        gs += mm(tl.trans(qt), dot_q, dt, IEEE) * scale
        if DECAY_GRAD:
            ds_acc += tl.sum(tl.sum(kt.to(tl.float32) * dkt, axis=1) * (rows - bos + 1).to(tl.float32))
    if STORE_DS0:
        if g == 0:
            ptr = dS0 + (i_n * H + i_h) * KD * ED
            tl.store(ptr + offs_k[:, None] * ED + offs_e[None, :], gs, mask=m_k[:, None] & m_e[None, :])
    if DECAY_GRAD:
        tl.store(dsk + pid, ds_acc)
