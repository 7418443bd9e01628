"""Forward Triton kernels of Lightning Attention-2 (arXiv 2401.04658, Algorithm 1; spec section 1.2).

Per chunk n (local i, j; actual length c), with the a = 1 decay split of spec 1.3:

    O_n     = scale * [ (Q_n K_n^T (.) D_c) V_n + Gamma_q Q_n S_[n] ]    intra left + inter right product
    S_[n+1] = lambda^c S_[n] + K_n^T (Gamma_k V_n)                        state kept on chip, fp32

``fwd_kernel`` rebuilds the state entering its segment (from the local states of ``triton_seg.py`` when a
sequence has several segments) and walks its chunks. Programs are (E tile, head, item), E tile fastest so
programs sharing q/k run together (L2 reuse).
"""

import triton
import triton.language as tl

from litlab.attention.ops.triton_common import item_bounds, load_tile, masked_decay, mm, state_entering, store_tile


@triton.jit
def _chunks(
    state, ss, se, q, k, v, o, i_h, s, scale, offs_c, offs_k, offs_e, m_k, m_e,
    H: tl.constexpr, SK: tl.constexpr, SE: tl.constexpr, C: tl.constexpr, HAS_DECAY: tl.constexpr, IEEE: tl.constexpr,
    ACC: tl.constexpr, PREFETCH: tl.constexpr,
):
    """Walk the chunks of [ss, se): write their outputs (ACC: add them to what o holds), return the state.
    PREFETCH: load the next chunk's tiles into registers at the top of the body, so the loads overlap this
    chunk's products (Triton's 2-stage pipeline issues them at the end of the body, just before they are
    waited for; BENCHMARKS.md run 11)."""
    dt = q.dtype.element_ty
    if PREFETCH:
        m_n = offs_c < se - ss
        qn = load_tile(q + i_h * SK, ss + offs_c, offs_k, H * SK, m_n, m_k)
        kn = load_tile(k + i_h * SK, ss + offs_c, offs_k, H * SK, m_n, m_k)
        vn = load_tile(v + i_h * SE, ss + offs_c, offs_e, H * SE, m_n, m_e)
    for cs in range(ss, se, C):
        c = tl.minimum(se - cs, C)
        rows = cs + offs_c
        m_t = offs_c < c
        if PREFETCH:
            qt, kt, vt = qn, kn, vn
            m_n = offs_c < se - cs - C  # nothing past se is read
            qn = load_tile(q + i_h * SK, rows + C, offs_k, H * SK, m_n, m_k)
            kn = load_tile(k + i_h * SK, rows + C, offs_k, H * SK, m_n, m_k)
            vn = load_tile(v + i_h * SE, rows + C, offs_e, H * SE, m_n, m_e)
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
        store_tile(o + i_h * SE, out, rows, offs_e, H * SE, m_t, m_e, ACC)
        state += mm(tl.trans(kt), vt_k, dt, IEEE)
    return state


@triton.jit
def fwd_kernel(
    q,
    k,
    v,
    o,
    decay,
    S0,
    L,
    ST,
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
    SEGB,
    GB,
    BK: tl.constexpr,
    BE: tl.constexpr,
    NE: tl.constexpr,
    VARLEN: tl.constexpr,
    HAS_DECAY: tl.constexpr,
    HAS_S0: tl.constexpr,
    USE_SEG: tl.constexpr,
    STORE_ST: tl.constexpr,
    STORE_BOUNDS: tl.constexpr,
    IEEE: tl.constexpr,
    ACC: tl.constexpr = False,
    PREFETCH: tl.constexpr = False,
):
    """Outputs of one (E tile, head, item); the last item of a sequence also writes the final state. With
    STORE_BOUNDS (whole sequences, uniform batch) it also writes the state entering every SEGB tokens into
    L[n * GB + j] (the entering states of the backward's segments). Rows of q, k are H * SK elements apart and
    rows of v, o H * SE (SK > KD, SE > ED: a piece of wider heads); ACC adds the outputs to what o holds (every
    K piece after the first)."""
    pid = tl.program_id(0).to(tl.int64)
    i_e, i_h, i_item = pid % NE, (pid // NE) % H, pid // (NE * H)
    i_n, g, bos, eos, ss, se, n_seg = item_bounds(i_item, items, cu, T, SEG, G, VARLEN)
    s = tl.load(decay + i_h).to(tl.float32) if HAS_DECAY else 0.0
    offs_c = tl.arange(0, C)
    offs_k = tl.arange(0, BK)
    offs_e = i_e * BE + tl.arange(0, BE)
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
    )  # [BK, BE]
    # two call sites, not one outer loop for both: a single loop spills registers in the plain forward (ptxas)
    if STORE_BOUNDS:  # an outer loop over the backward's segments keeps the chunk loop free of the extra store
        for sb in range(ss, se, SEGB):
            ptr = L + ((i_n * GB + (sb - bos) // SEGB) * H + i_h) * KD * ED
            tl.store(ptr + offs_k[:, None] * ED + offs_e[None, :], state, mask=m_k[:, None] & m_e[None, :])
            state = _chunks(
                state, sb, tl.minimum(sb + SEGB, se), q, k, v, o, i_h, s, scale,
                offs_c, offs_k, offs_e, m_k, m_e, H, SK, SE, C, HAS_DECAY, IEEE, ACC, PREFETCH,
            )
    else:
        state = _chunks(
            state, ss, se, q, k, v, o, i_h, s, scale, offs_c, offs_k, offs_e, m_k, m_e,
            H, SK, SE, C, HAS_DECAY, IEEE, ACC, PREFETCH,
        )
    if STORE_ST:
        if se == eos:
            ptr = ST + (i_n * H + i_h) * KD * ED
            tl.store(ptr + offs_k[:, None] * ED + offs_e[None, :], state, mask=m_k[:, None] & m_e[None, :])
