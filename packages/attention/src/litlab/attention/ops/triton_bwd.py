"""Backward phases of Lightning Attention-2 (arXiv 2401.04658, Algorithm 2) as two Triton sweeps, written with
the a = 1 split and the state gradient G_[n] entering chunk n from the right (Q~ = scale Q):

    dQ_n  = scale * [ ((dO_n V_n^T) (.) D_c) K_n + Gamma_q dO_n S_[n]^T ]      dq_kernel: forward sweep, S recomputed
    dK_n  = ((dO_n V_n^T) (.) D_c)^T Q~_n + Gamma_k V_n G_[n+1]^T              dkv_kernel: reverse sweep
    dV_n  = ((Q~_n K_n^T) (.) D_c)^T dO_n + Gamma_k K_n G_[n+1]
    G_[n] = lambda^c G_[n+1] + (Gamma_q Q~_n)^T dO_n,   dS_0 = G_[0]

dq programs own a K tile (state tile [BK, E]); dkv programs the whole [K, E] state gradient, so dk and dv come
out of one pass and no partial sums cross programs (ACC: add the tile to what the gradient holds, for pieces of
heads wider than 128). Memory traffic per token and head: dq reads k, v, dO (and q for the decay gradient)
once per K tile and writes dq; dkv reads q, k, v, dO once and writes dk, dv; each reads one fp32 [K, E] tile per
neighbouring segment (``state_entering`` / ``grad_leaving``).

Decay gradient (DECAY_GRAD): ds = - sum_t t (q_t . dq_t - k_t . dk_t) - T <dS_T, S_T> (t 1-based within each
sequence), each program returning its share of the first sum. The two sums are up to ~75x |ds| at T = 4096
(they cancel), so both sweeps must see the same rounded operands, or the rounding of one side shows up 75x
amplified: every pair term then comes out of the same products of input-dtype values, k_j (x) (Gamma_k v_j) in S
and q_i (x) (Gamma_q do_i) in G, and the inter products that read a state are formed against it carried to 16
bits (``mm_hilo``) instead of rounded to 8. On bf16 inputs at T = 4097, D = 128 this brings ds from 5-20% of its
size to under 1% (``test_ops_gpu.py``), for one extra dot per chunk in each sweep, only when the decay needs a
gradient.
"""

import triton
import triton.language as tl

from litlab.attention.ops.triton_common import (
    grad_leaving,
    item_bounds,
    load_tile,
    masked_decay,
    mm,
    mm_hilo,
    state_entering,
    store_tile,
)


@triton.jit
def dq_kernel(
    q, k, v, do, dq, decay, S0, L, dsq, items, cu, T, scale,
    H: tl.constexpr, KD: tl.constexpr, ED: tl.constexpr, SK: tl.constexpr, SE: tl.constexpr, C: tl.constexpr,
    SEG, G, SPLIT,
    BK: tl.constexpr, BE: tl.constexpr, NK: tl.constexpr, VARLEN: tl.constexpr, HAS_DECAY: tl.constexpr,
    HAS_S0: tl.constexpr, USE_SEG: tl.constexpr, ENTERING: tl.constexpr, DECAY_GRAD: tl.constexpr,
    IEEE: tl.constexpr, ACC: tl.constexpr,
):  # fmt: skip
    """Forward sweep of one (K tile, head, item) with the state tile [BK, BE = all of E]; DECAY_GRAD: also
    dsq[pid] = sum_t t q_t . dq_t over its tile."""
    pid = tl.program_id(0).to(tl.int64)
    i_k, i_h, i_item = pid % NK, (pid // NK) % H, pid // (NK * H)
    item = item_bounds(i_item, items, cu, T, SEG, G, VARLEN)
    i_n, g, bos, eos, ss, se, n_seg = item
    s = tl.load(decay + i_h).to(tl.float32) if HAS_DECAY else 0.0
    dt = q.dtype.element_ty
    offs_c = tl.arange(0, C)
    offs_k = i_k * BK + tl.arange(0, BK)
    offs_e = tl.arange(0, BE)
    m_k, m_e = offs_k < KD, offs_e < ED
    state = state_entering(
        S0,
        L,
        item,
        i_h,
        i_item,
        s,
        H,
        KD,
        ED,
        SEG,
        SPLIT,
        (offs_k, offs_e, m_k, m_e),
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
        kt = load_tile(k + i_h * SK, rows, offs_k, H * SK, m_t, m_k)  # [C, BK]
        vt = load_tile(v + i_h * SE, rows, offs_e, H * SE, m_t, m_e)  # [C, BE]
        dot = load_tile(do + i_h * SE, rows, offs_e, H * SE, m_t, m_e)  # [C, BE]
        dov = masked_decay(mm(dot, tl.trans(vt), dt, IEEE), offs_c, s, HAS_DECAY)  # [C, C]
        if DECAY_GRAD:  # (Gamma_q dO) rounded as the reverse sweep rounds it, the state to 16 bits
            inter = mm_hilo(dot * tl.exp(-s * (offs_c + 1).to(tl.float32))[:, None], tl.trans(state), dt, IEEE)
        else:
            inter = mm(dot, tl.trans(state), dt, IEEE)  # [C, BK]
            if HAS_DECAY:
                inter = inter * tl.exp(-s * (offs_c + 1).to(tl.float32))[:, None]
        if HAS_DECAY:
            state = state * tl.exp(-s * c.to(tl.float32))
            vt = vt * tl.exp(-s * tl.maximum(c - 1 - offs_c, 0).to(tl.float32))[:, None]
        dqt = (mm(dov, kt, dt, IEEE) + inter) * scale
        store_tile(dq + i_h * SK, dqt, rows, offs_k, H * SK, m_t, m_k, ACC)
        state += mm(tl.trans(kt), vt, dt, IEEE)
        if DECAY_GRAD:
            qt = load_tile(q + i_h * SK, rows, offs_k, H * SK, m_t, m_k).to(tl.float32)
            ds_acc += tl.sum(tl.sum(qt * dqt, axis=1) * (rows - bos + 1).to(tl.float32))
    if DECAY_GRAD:
        tl.store(dsq + pid, ds_acc)


@triton.jit
def dkv_kernel(
    q, k, v, do, dk, dv, decay, dST, M, dS0, dsk, items, cu, T, scale,
    H: tl.constexpr, KD: tl.constexpr, ED: tl.constexpr, SK: tl.constexpr, SE: tl.constexpr, C: tl.constexpr,
    SEG, G,
    BK: tl.constexpr, BE: tl.constexpr, VARLEN: tl.constexpr, HAS_DECAY: tl.constexpr, HAS_DST: tl.constexpr,
    USE_SEG: tl.constexpr, STORE_DS0: tl.constexpr, DECAY_GRAD: tl.constexpr, IEEE: tl.constexpr,
    ACC_K: tl.constexpr, ACC_V: tl.constexpr,
):  # fmt: skip
    """Reverse sweep of one (head, item) with the state gradient [BK = all of K, BE = all of E]: dk, dv, dS_0
    (first segment, STORE_DS0) and, DECAY_GRAD, dsk[pid] = sum_t t k_t . dk_t."""
    pid = tl.program_id(0).to(tl.int64)
    i_h, i_item = pid % H, pid // H
    item = item_bounds(i_item, items, cu, T, SEG, G, VARLEN)
    i_n, g, bos, eos, ss, se, n_seg = item
    s = tl.load(decay + i_h).to(tl.float32) if HAS_DECAY else 0.0
    dt = q.dtype.element_ty
    offs_c = tl.arange(0, C)
    offs_k = tl.arange(0, BK)
    offs_e = tl.arange(0, BE)
    m_k, m_e = offs_k < KD, offs_e < ED
    gs = grad_leaving(
        dST, M, item, i_h, i_item, s, H, KD, ED, SEG, (offs_k, offs_e, m_k, m_e), HAS_DST, USE_SEG, HAS_DECAY
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
        if DECAY_GRAD:  # (Gamma_k V) rounded as the forward sweep rounds it, the state gradient to 16 bits
            gam_k = tl.exp(-s * tl.maximum(c - 1 - offs_c, 0).to(tl.float32))[:, None]
            inter_k = mm_hilo(vt * gam_k, tl.trans(gs), dt, IEEE)  # [C, BK]
            inter_v = mm(kt, gs, dt, IEEE) * gam_k  # [C, BE]
        else:
            inter_k = mm(vt, tl.trans(gs), dt, IEEE)  # [C, BK]
            inter_v = mm(kt, gs, dt, IEEE)  # [C, BE]
            if HAS_DECAY:
                gam_k = tl.exp(-s * tl.maximum(c - 1 - offs_c, 0).to(tl.float32))[:, None]
                inter_k = inter_k * gam_k
                inter_v = inter_v * gam_k
        if HAS_DECAY:
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
