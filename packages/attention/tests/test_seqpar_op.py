"""Sequence-parallel lightning_attn (LASP-2) against the one-device op on spawned gloo processes.

Each rank builds the same global inputs, runs its piece through `lightning_attn(..., sp_group=group)` and
checks, in float64: its piece of o, the final states (summed over ranks: each sequence's state lives on the
rank holding its last token), its pieces of dq, dk, dv and the summed partial gradients of the decay slopes
and the initial states, for batches with and without packing (sequences crossing, covering and ending
exactly at rank boundaries, empty ones at a boundary), decay learnable, fixed or absent.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from litlab.attention.ops import lightning_attn
from litlab.attention.ops.seqpar import plan_piece, spawn_gloo
from litlab.attention.ops.testing import make_inputs, rel

T = 28  # global length: pieces of 14 (2 ranks) or 7 (4 ranks)
PACKED = {  # sequence lengths summing to T
    "crossing": [3, 12, 0, 1, 9, 3],  # 12 covers rank 1 of 4, an empty one mid-piece
    "aligned": [7, 0, 7, 2, 12],  # ends on boundaries, an empty one at a boundary
    "one": [28],  # one sequence through every piece
}
CASES = [  # (name, batch, lengths or None, decay, learn decay, initial state, dtype)
    ("batch-learned", 2, None, [0.3, 0.05, 1.2], True, True, torch.float64),
    ("batch-none", 2, None, None, False, False, torch.float64),
    ("batch-fixed", 1, None, [0.5, 0.0, 2.0], False, True, torch.float64),
    ("crossing", 1, "crossing", [0.3, 0.05, 1.2], True, True, torch.float64),
    ("aligned", 1, "aligned", [0.2, 0.7, 0.0], True, True, torch.float64),
    ("one-none", 1, "one", None, False, True, torch.float64),
    ("crossing-fp32", 1, "crossing", [0.3, 0.05, 1.2], True, True, torch.float32),
]
TOL = {torch.float64: 1e-12, torch.float32: 2e-5}


def _run(inp, dtype, learn, group, rank, size, cu):
    """Forward + backward of sum(o * do) + sum(S * ds) on this rank's piece (group None: the whole sequence)."""
    piece = slice(None) if group is None else slice(rank * T // size, (rank + 1) * T // size)
    leaves = {n: inp[n][:, piece].detach().clone().requires_grad_() for n in ("q", "k", "v")}
    decay = None if inp["decay"] is None else inp["decay"].detach().clone().requires_grad_(learn)
    state = None if inp["initial_state"] is None else inp["initial_state"].detach().clone().requires_grad_()
    o, st = lightning_attn(**leaves, decay=decay, initial_state=state, output_final_state=True, cu_seqlens=cu,
                           backend="torch", sp_group=group)  # fmt: skip
    ((o * inp["do"][:, piece].to(o.dtype)).sum() + (st * inp["ds"].to(st.dtype)).sum()).backward()
    out = {"o": o.detach(), "final_state": st.detach(), **{"d" + n: x.grad for n, x in leaves.items()}}
    if learn:
        out["ddecay"] = decay.grad
    if state is not None:
        out["dinitial_state"] = state.grad
    return out


def _summed(x: torch.Tensor) -> torch.Tensor:
    x = x.clone()
    dist.all_reduce(x)
    return x


def _check_cases(rank: int, size: int) -> None:
    group = dist.new_group(list(range(size)))
    for name, b, lengths, decay, learn, state, dtype in CASES:
        n_seq = b if lengths is None else len(PACKED[lengths])
        inp = make_inputs(b, T, 3, 4, 5, dtype=dtype, decay=decay, state=state, n_seq=n_seq, seed=len(name))
        cu = None if lengths is None else torch.tensor([0, *PACKED[lengths]]).cumsum(0)
        ref = _run(inp, dtype, learn, None, rank, size, cu)
        got = _run(inp, dtype, learn, group, rank, size, cu)
        piece = slice(rank * T // size, (rank + 1) * T // size)
        errors = {}
        for key, want in ref.items():
            mine = got[key]
            if key in ("o", "dq", "dk", "dv"):
                want = want[:, piece]
            else:  # per-rank shares of replicated inputs / of the final states
                mine = _summed(mine)
            errors[key] = rel(mine, want)
        bad = {key: f"{err:.2e}" for key, err in errors.items() if not err < TOL[dtype]}
        assert not bad, f"{name}, rank {rank} of {size}: rel errors {bad}"  # after the case's collectives


@pytest.mark.parametrize("size", [2, 4])
def test_sequence_parallel_op_matches_one_device(size):
    spawn_gloo(_check_cases, size)


def _check_group_of_one(rank: int, size: int) -> None:
    """A group of one rank is the plain op: same bits, and no collective is issued."""
    import litlab.attention.ops.seqpar.attn as attn

    singles = [dist.new_group([r]) for r in range(size)]
    attn.gather_ranks = None  # calling it would fail: the size-1 path must not communicate
    inp = make_inputs(2, 9, 2, 4, 4, dtype=torch.float64, decay=[0.1, 0.4], state=True, seed=rank)
    ref = _run(inp, torch.float64, True, None, 0, 1, None)
    got = _run(inp, torch.float64, True, singles[rank], 0, 1, None)
    for key in ref:
        assert torch.equal(ref[key], got[key]), key


def _check_errors(rank: int, size: int) -> None:
    q = torch.zeros(1, 5, 2, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"cu_seqlens: .*P \* T_r = 2 \* 5 = 10"):
        lightning_attn(q, q, q, cu_seqlens=torch.tensor([0, 3, 9]), backend="torch", sp_group=dist.group.WORLD)
    with pytest.raises(ValueError, match="expected at least one token per rank"):
        empty = q[:, :0]
        lightning_attn(empty, empty, empty, backend="torch", sp_group=dist.group.WORLD)


def test_group_of_one_and_errors():
    spawn_gloo(_check_group_of_one, 2)
    spawn_gloo(_check_errors, 2)


@pytest.mark.parametrize(
    "rank, want",
    [  # global offsets [0, 3, 15, 15, 16, 25, 28] in pieces of 7: (lo, hi, continued, first_len, through)
        (0, (0, 1, False, 3, False)),
        (1, (1, 1, True, 7, True)),
        (2, (1, 4, True, 1, False)),
        (3, (4, 5, True, 4, False)),
    ],
)
def test_piece_plan_by_hand(rank, want):
    plan = plan_piece(torch.tensor([0, 3, 15, 15, 16, 25, 28]), 1, 7, rank, 4)
    assert (plan.lo, plan.hi, plan.continued, plan.first_len, plan.through) == want
    ends = {0: (True, False), 1: (False,), 2: (True, True, True, False), 3: (True, True)}[rank]
    assert plan.ends_here == ends
    assert plan.local_cu.tolist()[0] == 0 and plan.local_cu.tolist()[-1] == 7
