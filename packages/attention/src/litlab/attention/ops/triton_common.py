"""Shared Triton helpers of the Lightning Attention-2 kernels (arXiv 2401.04658, Algorithms 1-2).

Work is split into *items*: one segment of SEG tokens (a multiple of the chunk C) of one sequence. A
sequence of length T_n has max(1, ceil(T_n / SEG)) items, so long sequences with few heads still fill the
GPU (the state recurrence over segments, S_[g+1] = lambda^len S_[g] + L_g, is a linear scan). Each program
walks the chunks of one item with its state tile kept on chip; the state entering a segment is rebuilt from
per-segment local states (forward) or local state gradients (backward), every decay formed as exp(-s*m) with
m >= 0 (never lambda^-j, which overflows fp32 for steep slopes).

Two tuples travel between the helpers: ``item`` = item_bounds(...) = (sequence n, segment g, bos, eos,
segment start ss, segment end se, segments of n), positions int64; ``tile`` = (rows, cols, row mask, column
mask) of a program's [K, E] state tile.
"""

import triton
import triton.language as tl


@triton.jit
def item_bounds(i_item, items, cu, T, SEG, G, VARLEN: tl.constexpr):
    """(sequence n, segment g, bos, eos, segment start, segment end, segments of n); positions int64."""
    if VARLEN:
        i_n = tl.load(items + 2 * i_item).to(tl.int64)
        g = tl.load(items + 2 * i_item + 1).to(tl.int64)
        bos = tl.load(cu + i_n).to(tl.int64)
        eos = tl.load(cu + i_n + 1).to(tl.int64)
        n_seg = tl.maximum(tl.cdiv(eos - bos, SEG), 1)
    else:
        i_n = i_item // G
        g = i_item % G
        bos = i_n * T
        eos = bos + T
        n_seg = G
    ss = bos + g * SEG
    se = tl.minimum(ss + SEG, eos)
    return i_n, g, bos, eos, ss, se, n_seg


@triton.jit
def reach(s, HAS_DECAY: tl.constexpr):
    """How many tokens from a segment boundary can still matter across it, as fp32: lambda^m = exp(-s m) is below
    exp(-150) = 2^-216 for m > 150 / s, so such a token's k_j^T v_j (q~_i^T do_i) rounds to 0 in fp32 unless it
    exceeds 2^67. The segment kernels skip whole chunks of those tokens (with steep decays a segment's pass reads
    only the tokens next to its boundary); no decay (or s = 0): every token."""
    if HAS_DECAY:
        return tl.where(s > 0, 150.0 / tl.maximum(s, 1e-30), 3.0e38)
    else:
        return 3.0e38


@triton.jit
def masked_decay(a, offs_c, s, HAS_DECAY: tl.constexpr):
    """a (.) D_c: a[i, j] * lambda^(i-j) for i >= j, 0 above the diagonal."""
    diff = offs_c[:, None] - offs_c[None, :]
    if HAS_DECAY:
        return a * tl.where(diff >= 0, tl.exp(-s * tl.maximum(diff, 0).to(tl.float32)), 0.0)
    else:
        return tl.where(diff >= 0, a, 0.0)


@triton.jit
def mm(a, b, DT: tl.constexpr, IEEE: tl.constexpr):
    """a @ b with operands cast to the input dtype (bf16/fp16 tensor cores) and fp32 accumulation;
    fp32 inputs use IEEE precision (no TF32)."""
    if IEEE:
        return tl.dot(a.to(tl.float32), b.to(tl.float32), input_precision="ieee")
    else:
        return tl.dot(a.to(DT), b.to(DT))


@triton.jit
def mm_hilo(a, b, DT: tl.constexpr, IEEE: tl.constexpr):
    """a @ b for an fp32 ``b`` carried to about 16 mantissa bits: b = hi + lo with hi = b rounded to the input
    dtype and lo = (b - hi) rounded, two tensor-core dots (IEEE: one fp32 dot). The decay gradient's partials
    use it so that both sweeps round their operands the same way (``triton_bwd``)."""
    if IEEE:
        return tl.dot(a.to(tl.float32), b, input_precision="ieee")
    else:
        hi = b.to(DT)
        lo = (b - hi.to(tl.float32)).to(DT)
        return tl.dot(a.to(DT), hi) + tl.dot(a.to(DT), lo)


@triton.jit
def load_tile(ptr, rows, cols, stride, m_rows, m_cols):
    """[len(rows), len(cols)] tile of a row-major matrix with the given row stride, zero outside."""
    return tl.load(ptr + rows[:, None] * stride + cols[None, :], mask=m_rows[:, None] & m_cols[None, :], other=0.0)


@triton.jit
def store_tile(ptr, x, rows, cols, stride, m_r, m_c, ACC: tl.constexpr = False):
    """Store a [len(rows), len(cols)] tile of a row-major matrix; ACC: add it to what the matrix holds."""
    ptrs = ptr + rows[:, None] * stride + cols[None, :]
    mask = m_r[:, None] & m_c[None, :]
    if ACC:
        x = x + tl.load(ptrs, mask=mask, other=0.0).to(tl.float32)
    tl.store(ptrs, x.to(ptr.dtype.element_ty), mask=mask)


@triton.jit
def state_entering(S0, L, item, i_h, i_item, s, H, KD, ED, SEG, SPLIT, tile, HAS_S0: tl.constexpr,
                   USE_SEG: tl.constexpr, HAS_DECAY: tl.constexpr, ENTERING: tl.constexpr = False):
    """Tile of the state entering position ss: lambda^(ss-bos) S_0 + sum_p lambda^(ss-end_p) L_p over the local
    states L_p of the SPLIT pieces (SEG // SPLIT tokens each) of every earlier segment of the sequence. ENTERING:
    L already holds each item's entering state (written by a coarser forward). Reads (g x SPLIT + 1) [K, E]
    fp32 tiles."""
    i_n, g, bos, eos, ss, se, n_seg = item
    rows, cols, m_r, m_c = tile
    if ENTERING:
        acc = load_tile(L + (i_item * H + i_h) * KD * ED, rows, cols, ED, m_r, m_c)
    else:
        acc = tl.zeros([rows.shape[0], cols.shape[0]], dtype=tl.float32)
        if HAS_S0:
            acc = load_tile(S0 + (i_n * H + i_h) * KD * ED, rows, cols, ED, m_r, m_c)
            if HAS_DECAY:
                acc = acc * tl.exp(-s * (ss - bos).to(tl.float32))
        if USE_SEG:
            sub = SEG // SPLIT
            for p in range(0, g * SPLIT):
                t = load_tile(L + (((i_item - g) * SPLIT + p) * H + i_h) * KD * ED, rows, cols, ED, m_r, m_c)
                if HAS_DECAY:
                    t = t * tl.exp(-s * (ss - bos - (p + 1) * sub).to(tl.float32))
                acc += t
    return acc


@triton.jit
def grad_leaving(DST, M, item, i_h, i_item, s, H, KD, ED, SEG, tile, HAS_DST: tl.constexpr, USE_SEG: tl.constexpr,
                 HAS_DECAY: tl.constexpr):
    """Tile of the state gradient at the segment's end: lambda^(eos-se) dS_T + sum_{g'>g} lambda^(start_g'-se)
    M_g' (the local gradients of later segments). Reads (segments after g + 1) [K, E] fp32 tiles."""
    i_n, g, bos, eos, ss, se, n_seg = item
    rows, cols, m_r, m_c = tile
    acc = tl.zeros([rows.shape[0], cols.shape[0]], dtype=tl.float32)
    if HAS_DST:
        acc = load_tile(DST + (i_n * H + i_h) * KD * ED, rows, cols, ED, m_r, m_c)
        if HAS_DECAY:
            acc = acc * tl.exp(-s * (eos - se).to(tl.float32))
    if USE_SEG:
        for gp in range(g + 1, n_seg):
            t = load_tile(M + ((i_item - g + gp) * H + i_h) * KD * ED, rows, cols, ED, m_r, m_c)
            if HAS_DECAY:
                t = t * tl.exp(-s * (bos + gp * SEG - se).to(tl.float32))
            acc += t
    return acc


def cdiv(a: int, b: int) -> int:
    """ceil(a / b) on the host (``triton.cdiv`` is a jit function: a few microseconds per host call)."""
    return -(-a // b)


def next_pow2(n: int) -> int:
    """The smallest power of two >= n (n >= 1), on the host."""
    return 1 << (n - 1).bit_length()


def pad(n: int) -> int:
    """Tile width for a head dim: the next power of two, at least 16 (tl.dot needs it)."""
    return max(16, next_pow2(n))
