"""Compiled BPE merge loop (numba), equivalent to Hugging Face ``tokenizers``' ``Word::merge_all``.

``tokenizers`` keeps the candidate pairs of a word in a binary heap keyed by ``(rank, position)`` and
always merges the lowest-rank pair, leftmost first. A trained BPE only learns a merge ``(a, b)`` after both
``a`` and ``b`` exist, so every pair that contains a freshly merged token has a *higher* rank than the merge
that made it: the lowest rank never decreases. A monotone bucket queue (one bucket per rank, positions
sorted within a bucket) therefore applies exactly the same merges in the same order in O(L + n_merges)
per chunk instead of O(L log L). ``IntegerBPE`` checks the monotonicity condition on load; tests compare
the ids with ``tokenizers`` on random and real chunks.
"""

from __future__ import annotations

import numpy as np

try:
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None
    HAVE_NUMBA = False


def _lookup(keys, vals, mask, a, b):
    """Open-addressing hash lookup of pair ``(a, b)`` -> ``rank << 32 | merged_id``, or -1."""
    key = (np.int64(a) << 32) | b
    h = (key * np.int64(-7046029254386353131)) >> 40 & mask
    while True:
        k = keys[h]
        if k == key:
            return vals[h]
        if k < 0:
            return -1
        h = (h + 1) & mask


def _push(rank, pos, head, e_pos, e_next, n_entries):
    e_pos[n_entries] = pos
    e_next[n_entries] = head[rank]
    head[rank] = n_entries
    return n_entries + 1


def _merge_chunk(ids, keys, vals, m_left, m_right, m_new, nxt, prv, head, e_pos, e_next, scratch):
    """Merge one chunk in place (``ids[i] = -1`` marks a consumed symbol); ``head`` must be all -1."""
    n = ids.shape[0]
    n_entries = 0
    lo, hi = head.shape[0], -1
    mask = keys.shape[0] - 1
    for i in range(n):
        nxt[i] = i + 1 if i + 1 < n else -1
        prv[i] = i - 1
    for i in range(n - 1):
        r = _lookup(keys, vals, mask, ids[i], ids[i + 1]) >> 32
        if r >= 0:
            n_entries = _push(r, i, head, e_pos, e_next, n_entries)
            lo, hi = min(lo, r), max(hi, r)
    r = lo
    while r <= hi:
        if head[r] < 0:
            r += 1
            continue
        m = 0
        e = head[r]
        while e >= 0:  # collect this rank's candidate positions, then go leftmost first
            scratch[m] = e_pos[e]
            m += 1
            e = e_next[e]
        head[r] = -1
        for j in range(m // 2):  # buckets are LIFO, so mostly descending: reverse, then insertion-sort
            scratch[j], scratch[m - 1 - j] = scratch[m - 1 - j], scratch[j]
        for j in range(1, m):
            v = scratch[j]
            k = j - 1
            while k >= 0 and scratch[k] > v:
                scratch[k + 1] = scratch[k]
                k -= 1
            scratch[k + 1] = v
        a, b = m_left[r], m_right[r]  # rank r merges exactly the pair (a, b)
        for j in range(m):
            pos = scratch[j]
            right = nxt[pos]
            if right < 0 or ids[pos] != a or ids[right] != b:
                continue  # stale: a symbol of this pair was merged away or changed
            ids[pos] = m_new[r]
            ids[right] = -1
            q = nxt[right]
            nxt[pos] = q
            if q >= 0:
                prv[q] = pos
                # if q's own pair also has rank r it merges next in this bucket and then pushes the pair
                # (pos, q) itself; pushing it now would only leave a stale entry (runs of one symbol)
                if nxt[q] < 0 or ids[q] != a or ids[nxt[q]] != b:
                    r2 = _lookup(keys, vals, mask, ids[pos], ids[q]) >> 32
                    if r2 >= 0:
                        n_entries = _push(r2, pos, head, e_pos, e_next, n_entries)
                        hi = max(hi, r2)
            left = prv[pos]
            if left >= 0:
                r2 = _lookup(keys, vals, mask, ids[left], ids[pos]) >> 32
                if r2 >= 0:
                    n_entries = _push(r2, left, head, e_pos, e_next, n_entries)
                    hi = max(hi, r2)
        r += 1


def _encode_batch(symbols, symbol_to_id, keys, vals, m_left, m_right, m_new):
    n_chunks, length = symbols.shape
    flat = np.empty(n_chunks * length, dtype=np.int64)
    lens = np.empty(n_chunks, dtype=np.int64)
    ids = np.empty(length, dtype=np.int32)
    nxt = np.empty(length, dtype=np.int32)
    prv = np.empty(length, dtype=np.int32)
    head = np.full(max(len(m_left), 1), -1, dtype=np.int32)
    e_pos = np.empty(3 * length + 1, dtype=np.int32)
    e_next = np.empty(3 * length + 1, dtype=np.int32)
    scratch = np.empty(3 * length + 1, dtype=np.int32)
    total = 0
    for c in range(n_chunks):
        for i in range(length):
            ids[i] = symbol_to_id[symbols[c, i]]
        _merge_chunk(ids, keys, vals, m_left, m_right, m_new, nxt, prv, head, e_pos, e_next, scratch)
        start = total
        i = 0
        while i >= 0:
            flat[total] = ids[i]
            total += 1
            i = nxt[i]
        lens[c] = total - start
    return flat[:total].copy(), lens


def _expand_batch(flat, lens, offsets, token_symbols, length, shift, out, n_symbols):
    """Token ids -> coefficients ``out[c, :length]`` (symbol + shift, zero-padded on the right).

    ``n_symbols[c]`` gets the true symbol count of chunk c, or -1 if it holds an id outside the vocabulary.
    """
    vocab = offsets.shape[0] - 1
    t = 0
    for c in range(lens.shape[0]):
        count = 0
        foreign = False
        for _ in range(lens[c]):
            tok = flat[t]
            t += 1
            if tok < 0 or tok >= vocab:
                foreign = True
                continue
            for j in range(offsets[tok], offsets[tok + 1]):
                if count < length:
                    out[c, count] = token_symbols[j] + shift
                count += 1
        for j in range(min(count, length), length):
            out[c, j] = 0
        n_symbols[c] = -1 if foreign else count


if HAVE_NUMBA:
    _expand_batch = numba.njit(cache=True, nogil=True)(_expand_batch)
    _lookup = numba.njit(cache=True, nogil=True, inline="always")(_lookup)
    _push = numba.njit(cache=True, nogil=True)(_push)
    _merge_chunk = numba.njit(cache=True, nogil=True)(_merge_chunk)
    _encode_batch = numba.njit(cache=True, nogil=True)(_encode_batch)


def build_merge_table(left: np.ndarray, right: np.ndarray, merged: np.ndarray):
    """Hash table of merges: pair ``(left[r], right[r])`` -> ``r << 32 | merged[r]`` for rank r."""
    size = 1 << max(4, int(np.ceil(np.log2(4 * max(len(left), 1)))))
    keys = np.full(size, -1, dtype=np.int64)
    vals = np.full(size, -1, dtype=np.int64)
    mask = size - 1
    all_keys = (left.astype(np.int64) << 32) | right.astype(np.int64)
    hashes = (all_keys * np.int64(-7046029254386353131)) >> 40 & mask  # wraps like the compiled code
    for r, (key, h, m) in enumerate(zip(all_keys.tolist(), hashes.tolist(), merged.tolist())):
        while keys[h] >= 0:
            if keys[h] == key:
                raise ValueError(f"duplicate merge for pair ({key >> 32}, {key & 0xFFFFFFFF})")
            h = (h + 1) & mask
        keys[h], vals[h] = key, (r << 32) | m
    return keys, vals


def encode_batch(symbols: np.ndarray, symbol_to_id: np.ndarray, keys: np.ndarray, vals: np.ndarray, merges: np.ndarray):
    """``symbols: [N, L]`` ints in ``[0, len(symbol_to_id))`` (L >= 1) -> (flat ids, lengths ``[N]``).

    ``keys``/``vals`` come from :func:`build_merge_table`; ``merges [n_merges, 3]`` holds (left, right,
    merged) ids by rank.
    """
    if not HAVE_NUMBA:
        raise RuntimeError("the compiled BPE backend needs numba (pip install numba)")
    if symbols.ndim != 2 or symbols.shape[1] < 1:
        raise ValueError(f"symbols must be [N, L] with L >= 1, got shape {symbols.shape}")
    if symbols.size and (symbols.min() < 0 or symbols.max() >= len(symbol_to_id)):
        raise ValueError(f"symbols must lie in [0, {len(symbol_to_id)}), got [{symbols.min()}, {symbols.max()}]")
    sym = np.ascontiguousarray(symbols, dtype=np.int32)
    cols = [np.ascontiguousarray(merges[:, i], dtype=np.int32) for i in range(3)]
    return _encode_batch(sym, symbol_to_id, keys, vals, *cols)


def expand_batch(flat, lens, offsets, token_symbols, length: int, shift: int):
    """Decode helper: see :func:`_expand_batch`; returns ``(coefficients [N, length], n_symbols [N])``."""
    out = np.empty((len(lens), length), dtype=np.int64)
    n_symbols = np.empty(len(lens), dtype=np.int64)
    fn = _expand_batch if HAVE_NUMBA else _expand_batch_numpy
    fn(
        np.asarray(flat, dtype=np.int64),
        np.asarray(lens, dtype=np.int64),
        offsets,
        token_symbols,
        length,
        shift,
        out,
        n_symbols,
    )
    return out, n_symbols


def _expand_batch_numpy(flat, lens, offsets, token_symbols, length, shift, out, n_symbols):
    vocab = offsets.shape[0] - 1
    chunk = np.repeat(np.arange(len(lens)), lens)
    bad = (flat < 0) | (flat >= vocab)
    foreign = np.bincount(chunk[bad], minlength=len(lens)) > 0
    ok_ids, ok_chunk = flat[~bad], chunk[~bad]
    tok_len = offsets[ok_ids + 1] - offsets[ok_ids]
    sym_chunk = np.repeat(ok_chunk, tok_len)
    starts = np.repeat(offsets[ok_ids], tok_len)
    within = np.arange(int(tok_len.sum())) - np.repeat(np.cumsum(tok_len) - tok_len, tok_len)
    symbols = token_symbols[starts + within]
    counts = np.bincount(sym_chunk, minlength=len(lens))
    pos = np.arange(len(symbols)) - np.repeat(np.cumsum(counts) - counts, counts)
    keep = pos < length
    out[:] = 0
    out[sym_chunk[keep], pos[keep]] = symbols[keep] + shift
    n_symbols[:] = np.where(foreign, -1, counts)
