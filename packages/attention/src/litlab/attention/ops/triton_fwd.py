"""Output phase of the Lightning Attention-2 forward (arXiv 2401.04658, Algorithm 1) as one Triton kernel.

Per chunk n (local i, j; actual length c), with the a = 1 decay split (Gamma_q = diag(lambda^(i+1)),
Gamma_k = diag(lambda^(c-1-j)), D_c[i, j] = lambda^(i-j) for i >= j, else 0):

    O_n     = scale * [ (Q_n K_n^T (.) D_c) V_n + Gamma_q Q_n S_[n] ]    intra left + inter right product
    S_[n+1] = lambda^c S_[n] + K_n^T (Gamma_k V_n)                        state kept on chip, fp32

``fwd_kernel`` rebuilds the state entering its segment (from the local states of ``triton_seg.py`` when a
sequence has several segments) and walks its chunks. Programs are (E tile, head, item), E tile fastest so
programs sharing q/k run together (L2 reuse). Memory traffic per token and head: read q, k (K each, once per
E tile; the L2 serves the second), v (E), write o (E) in the input dtype; per program one fp32 [K, BE] state
read per earlier segment and at most one written per backward segment.
"""

import triton
import triton.language as tl

from litlab.attention.ops.triton_common import item_bounds, load_tile, masked_decay, mm, state_entering, store_tile


@triton.jit
def _chunks(
    state,
    ss,
    se,
    q,
    k,
    v,
    o,
    i_n,
    i_h,
    bos,
    e0,
    s,
    scale,
    tile,
    H: tl.constexpr,
    SK: tl.constexpr,
    SE: tl.constexpr,
    C: tl.constexpr,
    BK: tl.constexpr,
    BE: tl.constexpr,
    HAS_DECAY: tl.constexpr,
    IEEE: tl.constexpr,
    ACC: tl.constexpr,
    TMA: tl.constexpr,
):
    """Walk the chunks of [ss, se): write their outputs (ACC: add them to what o holds), return the state.
    TMA: q, k, v, o are tensor descriptors over [B, T, H * width] (blocks [1, C, BK] / [1, C, BE]; rows past a
    sequence's end read as zero and are not written) and the tiles are copied by the Hopper tensor memory
    accelerator; e0 is the first column of this program's E tile."""
    offs_k, offs_e, m_k, m_e = tile
    offs_c = tl.arange(0, C)
    if TMA:  # descriptor coordinates are int32
        dt = q.dtype
        n32, cq, cv = i_n.to(tl.int32), (i_h * SK).to(tl.int32), (i_h * SE + e0).to(tl.int32)
    else:
        dt = q.dtype.element_ty
    for cs in range(ss, se, C):
        c = tl.minimum(se - cs, C)
        rows = cs + offs_c
        m_t = offs_c < c
        if TMA:
            t0 = (cs - bos).to(tl.int32)
            qt = q.load([n32, t0, cq]).reshape(C, BK)
            kt = k.load([n32, t0, cq]).reshape(C, BK)
            vt = v.load([n32, t0, cv]).reshape(C, BE)
        else:
            qt = load_tile(q + i_h * SK, rows, offs_k, H * SK, m_t, m_k)  # [C, BK]
            kt = load_tile(k + i_h * SK, rows, offs_k, H * SK, m_t, m_k)  # [C, BK]
            vt = load_tile(v + i_h * SE, rows, offs_e, H * SE, m_t, m_e)  # [C, BE]
        scores = masked_decay(mm(qt, tl.trans(kt), dt, IEEE), offs_c, s, HAS_DECAY)  # [C, C]
        inter = mm(qt, state, dt, IEEE)  # [C, BE]
        if HAS_DECAY:
            inter = inter * tl.exp(-s * (offs_c + 1).to(tl.float32))[:, None]
            state = state * tl.exp(-s * c.to(tl.float32))
            vt_k = vt * tl.exp(-s * tl.maximum(c - 1 - offs_c, 0).to(tl.float32))[:, None]
        else:
            vt_k = vt
        out = (mm(scores, vt, dt, IEEE) + inter) * scale
        if TMA:
            if ACC:
                out += o.load([n32, t0, cv]).reshape(C, BE).to(tl.float32)
            o.store([n32, t0, cv], out.to(dt).reshape(1, C, BE))
        else:
            store_tile(o + i_h * SE, out, rows, offs_e, H * SE, m_t, m_e, ACC)
        state += mm(tl.trans(kt), vt_k, dt, IEEE)
    return state


@triton.jit
def fwd_kernel(
    q, k, v, o, decay, S0, L, LB, ST, items, cu, T, scale,
    H: tl.constexpr, KD: tl.constexpr, ED: tl.constexpr, SK: tl.constexpr, SE: tl.constexpr, C: tl.constexpr,
    SEG, G, SPLIT, SEGB, GB,
    BK: tl.constexpr, BE: tl.constexpr, NE: tl.constexpr, VARLEN: tl.constexpr, HAS_DECAY: tl.constexpr,
    HAS_S0: tl.constexpr, USE_SEG: tl.constexpr, STORE_ST: tl.constexpr, STORE_BOUNDS: tl.constexpr,
    IEEE: tl.constexpr, ACC: tl.constexpr, TMA: tl.constexpr,
):  # fmt: skip
    """Outputs of one (E tile, head, item); the last item of a sequence also writes the final state (STORE_ST).
    STORE_BOUNDS (a forward coarser than the backward, uniform batch): also write the state entering every SEGB
    tokens into LB[n * GB + j] (the entering states of the backward's segments). Rows of q, k are H * SK
    elements apart and rows of v, o H * SE (SK > KD, SE > ED: a piece of wider heads)."""
    pid = tl.program_id(0).to(tl.int64)
    i_e, i_h, i_item = pid % NE, (pid // NE) % H, pid // (NE * H)
    item = item_bounds(i_item, items, cu, T, SEG, G, VARLEN)
    i_n, g, bos, eos, ss, se, n_seg = item
    s = tl.load(decay + i_h).to(tl.float32) if HAS_DECAY else 0.0
    offs_k = tl.arange(0, BK)
    offs_e = i_e * BE + tl.arange(0, BE)
    tile = (offs_k, offs_e, offs_k < KD, offs_e < ED)
    state = state_entering(S0, L, item, i_h, i_item, s, H, KD, ED, SEG, SPLIT, tile, HAS_S0, USE_SEG, HAS_DECAY)
    m_st = (offs_k < KD)[:, None] & (offs_e < ED)[None, :]
    if STORE_BOUNDS:  # from an outer loop over the backward's segments (ptxas: less spilling than from inside)
        for sb in range(ss, se, SEGB):
            ptr = LB + ((i_n * GB + (sb - bos) // SEGB) * H + i_h) * KD * ED
            tl.store(ptr + offs_k[:, None] * ED + offs_e[None, :], state, mask=m_st)
            state = _chunks(
                state,
                sb,
                tl.minimum(sb + SEGB, se),
                q,
                k,
                v,
                o,
                i_n,
                i_h,
                bos,
                i_e * BE,
                s,
                scale,
                tile,
                H,
                SK,
                SE,
                C,
                BK,
                BE,
                HAS_DECAY,
                IEEE,
                ACC,
                TMA,
            )
    else:
        state = _chunks(
            state,
            ss,
            se,
            q,
            k,
            v,
            o,
            i_n,
            i_h,
            bos,
            i_e * BE,
            s,
            scale,
            tile,
            H,
            SK,
            SE,
            C,
            BK,
            BE,
            HAS_DECAY,
            IEEE,
            ACC,
            TMA,
        )
    if STORE_ST:
        if se == eos:
            ptr = ST + (i_n * H + i_h) * KD * ED
            tl.store(ptr + offs_k[:, None] * ED + offs_e[None, :], state, mask=m_st)
