"""Where the sequences of a batch lie relative to one rank's piece of the time axis (host-side bookkeeping).

Rank r of P holds the global tokens [R, R + T_r) with R = r * T_r (equal pieces when packed). For packed
sequences with global offsets c_0 = 0 <= c_1 <= ... <= c_N = P * T_r, the rank runs the op on the local
sequences lo..hi: those that start in its piece, plus the one that crosses its first boundary (c_lo < R),
which it continues from the state entering the piece. Sequence n's final state is produced on the rank
that holds its last token (an empty sequence: the rank where it starts; c_n = T on the last rank).
Without packing every one of the B rows crosses every boundary: rank 0 starts them, the last rank ends them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PiecePlan:
    """One rank's view of the batch.

    local_cu: offsets of the local sequences lo..hi within the piece (None without packing).
    lo, hi: first and last global sequence index run on this rank (rows of the op's states).
    num_seq: N, the number of sequences of the whole batch (B without packing).
    continued: the first local sequence started on an earlier rank (it takes the entering state).
    first_len: tokens of the piece that belong to that first sequence.
    through: the first sequence covers the whole piece (then the entering state passes on, decayed by T_r).
    starts_here: per local row, the sequence starts in this piece (it takes its initial state here).
    ends_here: per local row, the sequence's final state is produced on this rank.
    """

    local_cu: torch.Tensor | None
    lo: int
    hi: int
    num_seq: int
    continued: bool
    first_len: int
    through: bool
    starts_here: tuple[bool, ...]
    ends_here: tuple[bool, ...]


def plan_piece(cu_seqlens: torch.Tensor | None, batch: int, t_local: int, rank: int, size: int) -> PiecePlan:
    """The `PiecePlan` of rank `rank` of `size` holding t_local tokens (checks the global offsets)."""
    last = rank == size - 1
    if cu_seqlens is None:
        rows = tuple([rank == 0] * batch), tuple([last] * batch)
        return PiecePlan(None, 0, batch - 1, batch, rank > 0, t_local, True, *rows)
    total = size * t_local
    c = cu_seqlens.tolist()
    if batch != 1:
        raise ValueError(f"q: got batch {batch} with cu_seqlens, expected B = 1 (packed sequences)")
    if len(c) < 2 or c[0] != 0 or c[-1] != total or any(b < a for a, b in zip(c[:-1], c[1:])):
        raise ValueError(
            f"cu_seqlens: got {c[:8]}{'...' if len(c) > 8 else ''} ({len(c)} entries), expected global "
            f"non-decreasing offsets from 0 to P * T_r = {size} * {t_local} = {total} (equal pieces per rank)"
        )
    start, end = rank * t_local, (rank + 1) * t_local
    n = len(c) - 1
    # lo: the first sequence starting at or after `start`, or the one before it when that one crosses `start`
    lo = next(i for i in range(n + 1) if c[i] >= start)
    lo = lo - 1 if c[lo] > start else lo
    # hi: the last sequence starting before `end` (the last rank also owns the empty ones at c_n = T)
    hi = max(i for i in range(n) if c[i] < end or (last and c[i] <= end))
    local = [min(max(x - start, 0), t_local) for x in c[lo : hi + 2]]
    continued = c[lo] < start
    starts = tuple(c[i] >= start for i in range(lo, hi + 1))
    ends = tuple(c[i + 1] <= end for i in range(lo, hi + 1))
    cu_local = torch.tensor(local, dtype=cu_seqlens.dtype, device=cu_seqlens.device)
    first_len = local[1] - local[0]
    return PiecePlan(cu_local, lo, hi, n, continued, first_len, continued and c[lo + 1] >= end, starts, ends)
