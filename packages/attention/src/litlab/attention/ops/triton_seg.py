"""Local phases of the Lightning Attention-2 Triton path (arXiv 2401.04658): the per-segment terms of the scans
over segments, each built from zero in parallel (a long sequence with few heads is cut into segments so that
it fills the GPU):

    L_g = sum_{j in g} lambda^(end_g - 1 - j) k_j^T v_j      (forward: the state a segment adds; seg_state_kernel)
    M_g = sum_{i in g} lambda^(i - start_g + 1) q~_i^T do_i   (backward: the gradient it sends left; seg_grad_kernel)

``state_entering`` / ``grad_leaving`` in ``triton_common.py`` then combine them with the decays between
segments. Programs are (E tile, head, item or piece) with the full K range. Memory traffic: k, v (q, dO) of the
tokens within the decay's reach of the boundary each term is decayed to (``reach``), once per E tile; one fp32
[K, BE] tile written per program.
"""

import triton
import triton.language as tl

from litlab.attention.ops.triton_common import item_bounds, load_tile, mm, reach


@triton.jit
def seg_state_kernel(
    k, v, decay, L, items, cu, T,
    H: tl.constexpr, KD: tl.constexpr, ED: tl.constexpr, SK: tl.constexpr, SE: tl.constexpr, C: tl.constexpr,
    SEG, G, SPLIT,
    BK: tl.constexpr, BE: tl.constexpr, NE: tl.constexpr, VARLEN: tl.constexpr, HAS_DECAY: tl.constexpr,
    IEEE: tl.constexpr,
):  # fmt: skip
    """L_p = sum_{j in piece p} lambda^(end_p-1-j) k_j^T v_j, one [KD, BE] tile per program; a segment is cut
    into SPLIT pieces of SEG // SPLIT tokens (programs (E tile, head, piece), piece = item * SPLIT + j). L_p is
    only read decayed to the start of a later segment, so chunks whose tokens are all more than ``reach`` tokens
    before their segment's end are skipped."""
    pid = tl.program_id(0).to(tl.int64)
    i_e, i_h, i_piece = pid % NE, (pid // NE) % H, pid // (NE * H)
    i_item = i_piece // SPLIT
    i_n, g, bos, eos, ss, se, n_seg = item_bounds(i_item, items, cu, T, SEG, G, VARLEN)
    sub = SEG // SPLIT
    seg_end = se
    ss = ss + (i_piece % SPLIT) * sub
    se = tl.minimum(ss + sub, se)
    s = tl.load(decay + i_h).to(tl.float32) if HAS_DECAY else 0.0
    far = ((seg_end - ss).to(tl.float32) - reach(s, HAS_DECAY)) / C  # chunks of this piece out of reach
    start = ss + tl.maximum(tl.floor(far), 0.0).to(tl.int64) * C
    offs_c = tl.arange(0, C)
    offs_k = tl.arange(0, BK)
    offs_e = i_e * BE + tl.arange(0, BE)
    m_k, m_e = offs_k < KD, offs_e < ED
    acc = tl.zeros([BK, BE], dtype=tl.float32)
    last = g == n_seg - 1  # the last segment's pieces are never read: skip their pass over k, v
    for cs in range(tl.minimum(start, se), tl.where(last, ss, se), C):
        c = tl.minimum(se - cs, C)
        rows = cs + offs_c
        m_t = offs_c < c
        kt = load_tile(k + i_h * SK, rows, offs_k, H * SK, m_t, m_k)  # [C, BK]
        vt = load_tile(v + i_h * SE, rows, offs_e, H * SE, m_t, m_e)  # [C, BE]
        if HAS_DECAY:
            acc = acc * tl.exp(-s * c.to(tl.float32))
            vt = vt * tl.exp(-s * tl.maximum(c - 1 - offs_c, 0).to(tl.float32))[:, None]
        acc += mm(tl.trans(kt), vt, k.dtype.element_ty, IEEE)
    ptr = L + (i_piece * H + i_h) * KD * ED
    tl.store(ptr + offs_k[:, None] * ED + offs_e[None, :], acc, mask=m_k[:, None] & m_e[None, :])


@triton.jit
def seg_grad_kernel(
    q, do, decay, M, items, cu, T, scale,
    H: tl.constexpr, KD: tl.constexpr, ED: tl.constexpr, SK: tl.constexpr, SE: tl.constexpr, C: tl.constexpr,
    SEG, G,
    BK: tl.constexpr, BE: tl.constexpr, NE: tl.constexpr, VARLEN: tl.constexpr, HAS_DECAY: tl.constexpr,
    IEEE: tl.constexpr, DECAY_GRAD: tl.constexpr = False,
):  # fmt: skip
    """M_g = sum_{i in segment g} lambda^(i-start+1) q~_i^T do_i: the gradient a segment sends leftwards (chunks
    that start more than ``reach`` tokens after the segment's start are skipped). DECAY_GRAD: the products are
    formed per chunk as q_i^T (lambda^(i-cs+1) do_i) rounded to the input dtype, then decayed by lambda^(cs-start)
    in fp32, the operands the dk + dv sweep rounds (so the decay gradient's partials of both sweeps agree)."""
    pid = tl.program_id(0).to(tl.int64)
    i_e, i_h, i_item = pid % NE, (pid // NE) % H, pid // (NE * H)
    i_n, g, bos, eos, ss, se, n_seg = item_bounds(i_item, items, cu, T, SEG, G, VARLEN)
    s = tl.load(decay + i_h).to(tl.float32) if HAS_DECAY else 0.0
    offs_c = tl.arange(0, C)
    offs_k = tl.arange(0, BK)
    offs_e = i_e * BE + tl.arange(0, BE)
    m_k, m_e = offs_k < KD, offs_e < ED
    acc = tl.zeros([BK, BE], dtype=tl.float32)
    first = g == 0  # the first segment's M is never read: skip its pass over q, dO
    near = tl.minimum(reach(s, HAS_DECAY) / C, 2.0e9)  # chunks j with j * C + 1 > reach are out of reach
    end = tl.minimum(se, ss + (tl.floor(near).to(tl.int64) + 1) * C)
    for cs in range(ss, tl.where(first, ss, end), C):
        c = tl.minimum(se - cs, C)
        rows = cs + offs_c
        m_t = offs_c < c
        qt = load_tile(q + i_h * SK, rows, offs_k, H * SK, m_t, m_k)  # [C, BK]
        dot = load_tile(do + i_h * SE, rows, offs_e, H * SE, m_t, m_e)  # [C, BE]
        if DECAY_GRAD:
            dot = dot * tl.exp(-s * (offs_c + 1).to(tl.float32))[:, None]
            acc += mm(tl.trans(qt), dot, q.dtype.element_ty, IEEE) * tl.exp(-s * (cs - ss).to(tl.float32))
        else:
            if HAS_DECAY:
                dot = dot * tl.exp(-s * (cs - ss + offs_c + 1).to(tl.float32))[:, None]
            acc += mm(tl.trans(qt), dot, q.dtype.element_ty, IEEE)
    ptr = M + (i_item * H + i_h) * KD * ED
    tl.store(ptr + offs_k[:, None] * ED + offs_e[None, :], acc * scale, mask=m_k[:, None] & m_e[None, :])
