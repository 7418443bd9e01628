"""Triton kernels vs the float64 naive reference (spec section 9).

On CPU these run under TRITON_INTERPRET=1 (set by conftest) with fp32/fp16 and small shapes; with a GPU the
same cases run compiled on CUDA. Every buffer a kernel must fill starts as NaN (``POISON``).
"""

import pytest
import torch

from litlab.attention.ops import chunk_triton, lightning_attn, triton_config, triton_plan, triton_seg
from litlab.attention.ops.recurrent import step_torch
from litlab.attention.ops.recurrent_triton import step_triton
from litlab.attention.ops.testing import compare, make_inputs, rel, run

DEV = "cuda" if torch.cuda.is_available() else "cpu"
F64 = torch.float64
TOL = {torch.float32: 1e-5, torch.float16: 1e-2}
# ds = -sum_t t (q.dq - k.dk) - ...: a difference of large sums, so fp32 loses digits to cancellation
DS_TOL = {torch.float32: 1e-4, torch.float16: 3e-2}


@pytest.fixture(autouse=True)
def poison(monkeypatch):
    monkeypatch.setattr(chunk_triton, "POISON", True)


def tri(chunk=64, seg=None):
    """lightning_attn-like op that calls the Triton path with explicit chunk and segment lengths."""

    def op(
        q,
        k,
        v,
        decay=None,
        *,
        scale=None,
        initial_state=None,
        output_final_state=False,
        cu_seqlens=None,
        backend="triton",
    ):
        assert backend == "triton", backend
        scale = q.shape[-1] ** -0.5 if scale is None else scale
        o, st = chunk_triton.triton_lightning_attn(
            q, k, v, decay, scale, initial_state, cu_seqlens, output_final_state, chunk, seg
        )
        return o, (st if output_final_state else None)

    return op


def check(inp, dtype, op=lightning_attn, **kw):
    got = run(inp, "triton", op=op, **kw)
    ref = run(inp, "naive", precision=F64, **kw)
    errs = compare(got, ref)
    want = {"o", "final_state", "dq", "dk", "dv"}
    want |= {"ddecay"} if inp["decay"] is not None else set()
    want |= {"dinitial_state"} if inp["initial_state"] is not None else set()
    assert set(errs) == want
    for name, err in errs.items():
        assert err <= (DS_TOL if name == "ddecay" else TOL)[dtype], (name, errs)


CASES = [  # (T, D, E, decay, initial state, chunk, segment)
    (1, 16, 16, None, True, 64, None),
    (63, 48, 20, [0.5, 0.0039], True, 64, None),
    (65, 16, 40, [0.0, 7.9], False, 16, None),
    (130, 24, 16, [0.3, 2.0], True, 16, 32),
    (257, 60, 32, [0.7071, 0.0039], True, 64, 128),  # MiniMax layer-0 extremes for H = 16
]


@pytest.mark.parametrize("t,d,e,decay,state,chunk,seg", CASES)
def test_triton_fp32_matches_naive(t, d, e, decay, state, chunk, seg):
    inp = make_inputs(2, t, 2, d, e, torch.float32, DEV, decay=decay, state=state, seed=t)
    check(inp, torch.float32, op=tri(chunk, seg))


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("t,d,e,decay,state,chunk,seg", [CASES[1], CASES[3]])
def test_triton_dkdv_kernels_and_other_tiles_match_naive(monkeypatch, t, d, e, decay, state, chunk, seg, fused):
    """dk and dv from one reverse sweep (dkv_kernel, the default) or from dk_kernel + dv_kernel, with narrower
    state tiles (several K/E tiles per head)."""
    tiles = (("fwd", {"elems": 256}), ("dq", {"elems": 256}), ("dk", {"elems": 256}), ("dv", {"elems": 256}))
    for key, val in (("fuse_dkdv", fused), *tiles):
        monkeypatch.setitem(triton_config.CONFIG, key, val)
    inp = make_inputs(2, t, 2, d, e, torch.float32, DEV, decay=decay, state=state, seed=t + 1)
    check(inp, torch.float32, op=tri(chunk, seg))


def test_triton_separate_forward_and_backward_chunks(monkeypatch):
    """Forward chunk 16, backward chunk 32 (segments of 32), and a scale other than 1/sqrt(D)."""
    monkeypatch.setitem(triton_config.CONFIG, "fwd_chunk", 16)
    monkeypatch.setitem(triton_config.CONFIG, "bwd_chunk", 32)
    inp = make_inputs(1, 75, 2, 16, 16, torch.float32, DEV, decay=[0.3, 2.0], state=True, seed=12)
    check(inp, torch.float32, op=tri(None, 32), scale=0.7)


def test_segmented_forward_takes_its_own_launch_options(monkeypatch):
    kinds = []
    real = chunk_triton.launch
    monkeypatch.setattr(chunk_triton, "launch", lambda kind: kinds.append(kind) or real(kind))
    inp = make_inputs(1, 40, 2, 16, 16, torch.float32, DEV, decay=[0.3, 0.0], seed=8)
    whole, cut = (run(inp, "triton", op=tri(16, seg), grad=False) for seg in (None, 16))
    assert kinds == ["fwd", "seg", "fwd_seg"]  # one segment: the plain forward; three: segment states, then fwd_seg
    assert compare(whole, cut)["o"] <= 1e-6


def test_triton_fp16_matches_naive():
    inp = make_inputs(1, 70, 2, 32, 32, torch.float16, DEV, decay=[0.1, 1.0], state=True, seed=11)
    check(inp, torch.float16, op=tri(32, None))


def test_triton_varlen_with_empty_sequence_and_segments():
    lens = [5, 0, 40, 1, 33]
    cu = torch.tensor([0, *torch.tensor(lens).cumsum(0).tolist()], device=DEV)
    inp = make_inputs(1, int(cu[-1]), 2, 16, 24, torch.float32, DEV, [0.2, 3.0], True, len(lens), seed=3)
    check(inp, torch.float32, op=tri(16, 16), cu_seqlens=cu)
    got = run(inp, "triton", op=tri(16, 16), grad=False, cu_seqlens=cu)
    assert torch.equal(got["final_state"][1], inp["initial_state"][1])


def test_triton_public_api_without_grad_of_decay_or_state():
    """Default chunk/segment choice; decay without requires_grad; only the output is used."""
    inp = make_inputs(2, 40, 3, 16, 16, torch.float32, DEV, decay=[0.1, 0.0, 1.0], seed=4)
    q, k, v = (inp[n].clone().requires_grad_() for n in ("q", "k", "v"))
    o, st = lightning_attn(q, k, v, inp["decay"], backend="triton")
    assert st is None
    (o * inp["do"]).sum().backward()
    ref = run({**inp, "ds": torch.zeros_like(inp["ds"])}, "naive", precision=F64)  # loss uses o only
    for name, x in (("o", o), ("dq", q.grad), ("dk", k.grad), ("dv", v.grad)):
        assert compare({name: x}, ref)[name] <= 1e-5


def test_final_state_is_written_only_when_asked(monkeypatch):
    """Without output_final_state the forward skips the [N, H, D, E] fp32 store (the backward needs S_T only
    as an output); gradients, the decay's included, still equal float64 naive."""
    stored = []
    real = chunk_triton._fwd
    monkeypatch.setattr(chunk_triton, "_fwd", lambda *a, **kw: stored.append(kw["store_st"]) or real(*a, **kw))
    inp = make_inputs(2, 37, 2, 16, 24, torch.float32, DEV, decay=[0.4, 0.05], state=True, seed=10)
    names = ("q", "k", "v", "decay", "initial_state")
    got, ref = ({n: inp[n].clone().to(dt).requires_grad_() for n in names} for dt in (torch.float32, F64))
    o, st = lightning_attn(**got, backend="triton")
    o_ref, _ = lightning_attn(**ref, backend="naive")
    assert st is None and stored == [False]
    (o * inp["do"]).sum().backward()
    (o_ref * inp["do"].double()).sum().backward()
    assert compare({"o": o}, {"o": o_ref})["o"] <= 1e-5
    for n in names:
        assert compare({n: got[n].grad}, {n: ref[n].grad})[n] <= DS_TOL[torch.float32], n
    assert lightning_attn(**got, output_final_state=True, backend="triton")[1] is not None and stored[-1]


def test_triton_gradient_from_final_state_only():
    inp = make_inputs(1, 33, 2, 16, 16, torch.float32, DEV, decay=[0.4, 0.0], state=True, seed=5)
    leaves = {n: inp[n].clone().requires_grad_() for n in ("q", "k", "v", "decay", "initial_state")}
    _, st = tri(16, None)(**leaves, output_final_state=True)
    (st * inp["ds"]).sum().backward()
    ref_leaves = {n: x.detach().double().requires_grad_() for n, x in leaves.items()}
    _, st_ref = lightning_attn(**ref_leaves, output_final_state=True, backend="naive")
    (st_ref * inp["ds"].double()).sum().backward()
    for n in leaves:
        got, want = leaves[n].grad.double(), ref_leaves[n].grad
        want = torch.zeros_like(got) if want is None else want  # S_T does not depend on q
        assert (got - want).norm() <= 1e-5 * want.norm() + 1e-6, n


def test_triton_chunk_size_does_not_change_results():
    inp = make_inputs(1, 50, 2, 16, 16, torch.float32, DEV, decay=[0.3, 0.0], state=True, seed=6)
    a = run(inp, "triton", op=tri(16, None))
    b = run(inp, "triton", op=tri(32, 32))
    assert max(compare(a, b).values()) <= 1e-5


@pytest.mark.parametrize("decay", [None, [0.5, 0.0]])
def test_triton_decode_step_matches_torch(decay):
    inp = make_inputs(3, 1, 2, 24, 40, torch.float32, DEV, decay=decay, state=True, seed=7)
    args = (inp["q"][:, 0], inp["k"][:, 0], inp["v"][:, 0], inp["initial_state"], inp["decay"], 0.3)
    o, st = step_triton(*args)
    o_ref, st_ref = step_torch(*args)
    assert torch.allclose(o, o_ref, rtol=1e-5, atol=1e-5) and torch.allclose(st, st_ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("b,t,d,e,seg", [(1, 33, 40, 24, None), (2, 70, 16, 40, 32), (2, 40, 36, 16, None)])
def test_triton_head_dims_above_the_tile_limit_run_as_pieces(monkeypatch, fused, b, t, d, e, seg):
    """D, E above MAX_DIM run as K x E pieces reading and writing slices in place: K pieces add their outputs
    to o, dq and dk sum over E pieces, dv over K pieces (MAX_DIM = 16 here: D = 40 is 3 K pieces of 14, 13, 13;
    E = 40 is 3 E pieces), with segments, both dk/dv kernel sets, decay and initial state."""
    monkeypatch.setattr(chunk_triton, "MAX_DIM", 16)
    monkeypatch.setitem(triton_config.CONFIG, "fuse_dkdv", fused)
    inp = make_inputs(b, t, 2, d, e, torch.float32, DEV, decay=[0.2, 1.5], state=True, seed=8 + t)
    check(inp, torch.float32, op=tri(16, seg))


def test_triton_head_dim_pieces_with_varlen(monkeypatch):
    """Pieces (MAX_DIM = 16: D = 24 and E = 40 are 2 x 3 pieces) over packed sequences with an empty one:
    per-sequence final states assembled from the pieces, and the empty sequence's state is its initial one."""
    monkeypatch.setattr(chunk_triton, "MAX_DIM", 16)
    lens = [5, 0, 40, 1, 33]
    cu = torch.tensor([0, *torch.tensor(lens).cumsum(0).tolist()], device=DEV)
    inp = make_inputs(1, int(cu[-1]), 2, 24, 40, torch.float32, DEV, [0.2, 3.0], True, len(lens), seed=4)
    check(inp, torch.float32, op=tri(16, 16), cu_seqlens=cu)
    got = run(inp, "triton", op=tri(16, 16), grad=False, cu_seqlens=cu)
    assert got["final_state"].shape == (5, 2, 24, 40)
    assert torch.equal(got["final_state"][1], inp["initial_state"][1])


def test_triton_single_head_inputs_with_odd_size_one_strides():
    """H = 1 tensors whose size-1 head dim has stride 1 are contiguous by torch's rule (size-1 strides do not
    count): the kernels must address rows by the shape, not by that stride."""
    inp = make_inputs(2, 40, 1, 16, 24, torch.float32, DEV, decay=[0.4], state=True, seed=31)
    for name in ("q", "k", "v"):
        inp[name] = inp[name].squeeze(2).unsqueeze(-1).transpose(2, 3)
        assert inp[name].is_contiguous() and inp[name].stride(2) == 1
    check(inp, torch.float32, op=tri(16, None))


def plan(b, t, h, lens=None, chunks=(64, 64), seg=None):
    cu = None if lens is None else torch.tensor([0, *torch.tensor(lens).cumsum(0).tolist()])
    p = triton_plan.make_plan(b, t, h, 1, cu, chunks, seg, torch.device("cpu"))
    return p.seg, p.num_items, p.use_seg, None if p.items is None else p.items.tolist()


def test_segment_plan_edge_cases(monkeypatch):
    """The automatic segment length on a GPU of 8 SMs (4 programs per SM wanted), worked out by hand."""
    monkeypatch.setattr(triton_plan, "_sms", lambda device: 8)
    monkeypatch.setitem(triton_config.CONFIG, "programs_per_sm", 4)
    monkeypatch.setitem(triton_config.CONFIG, "seg_round", "up")
    assert plan(1, 1, 2) == (64, 1, False, None)  # T = 1: one chunk
    assert plan(1, 63, 2) == (64, 1, False, None)  # T below one chunk
    assert plan(1, 1000, 2) == (64, 16, True, None)  # 2 programs: min(32 / 2, 16 chunks) segments
    assert plan(7, 1000, 1) == (256, 28, True, None)  # B*H = 7 < 8 SMs: cdiv(32, 7) = 5 -> seg 256, 4 each
    assert plan(2, 1000, 4) == (1024, 2, False, None)  # B*H = 8 SMs: one segment per sequence
    monkeypatch.setitem(triton_config.CONFIG, "seg_round", "down")  # at most 32 programs: floor(32 / 7) = 4
    assert plan(7, 1000, 1) == (256, 28, True, None)  # 4 segments of 256 either way (1000 / 5 -> 256 too)
    assert plan(5, 1000, 1) == (192, 30, True, None)  # floor(32 / 5) = 6 -> cdiv(1000, 6) = 167 -> seg 192
    monkeypatch.setitem(triton_config.CONFIG, "seg_round", "up")
    assert plan(5, 1000, 1) == (192, 30, True, None)  # cdiv(32, 5) = 7 -> cdiv(1000, 7) = 143 -> 192 as well
    assert plan(3, 4096, 1) == (384, 33, True, None)  # cdiv(32, 3) = 11 -> seg cdiv(4096 / 11 = 373) = 384
    monkeypatch.setitem(triton_config.CONFIG, "seg_round", "down")
    assert plan(3, 4096, 1) == (448, 30, True, None)  # floor(32 / 3) = 10 -> 410 -> 448: 30 programs <= 32
    # varlen: seg = 305 * 2 // 32 tokens rounded up to a chunk; an empty sequence still gets one item
    assert plan(1, 305, 2, lens=[0, 5, 0, 300]) == (64, 8, True, [[0, 0], [1, 0], [2, 0], *[[3, j] for j in range(5)]])
    assert plan(1, 0, 2, lens=[0, 0]) == (64, 2, False, [[0, 0], [1, 0]])
    assert plan(1, 100, 2, chunks=(16, 64), seg=128)[:3] == (128, 1, False)
    with pytest.raises(ValueError, match="multiple of chunk_size 64"):
        plan(1, 100, 2, chunks=(16, 64), seg=32)  # a segment must hold whole chunks of both kernels


def test_segment_split_plan(monkeypatch):
    """Pieces per segment of the local-state pass, worked out by hand on a GPU of 8 SMs."""
    monkeypatch.setattr(triton_plan, "_sms", lambda device: 8)
    monkeypatch.setitem(triton_config.CONFIG, "programs_per_sm", 2)
    monkeypatch.setitem(triton_config.CONFIG, "seg_round", "down")
    monkeypatch.setitem(triton_config.CONFIG, "fwd_programs_per_sm", 2)  # the forward keeps the same segments
    monkeypatch.setitem(triton_config.CONFIG, "split_programs_per_sm", 4)
    mk = lambda b, t, h, seg=None, tma=True: triton_plan.make_plan(b, t, h, 1, None, (64, 64), seg, "cpu", tma)  # noqa: E731
    p = mk(2, 4096, 2)  # per = 4 programs, floor(16 / 4) = 4 segments of 1024; split off
    assert (p.seg, p.g, p.split, p.coarse) == (1024, 4, 1, False)
    monkeypatch.setitem(triton_config.CONFIG, "seg_split", "auto")  # 4 x 8 = 32 programs over 4 x 3 segments
    p = mk(2, 4096, 2)
    assert (p.seg, p.g, p.split) == (1024, 4, 4)  # next_power_of_2(cdiv(32, 12)) = 4 pieces of 256
    p = mk(1, 4096, 4)  # per = 4 -> 4 segments; cdiv(32, 12) -> 4
    assert (p.seg, p.g, p.split) == (1024, 4, 4)
    assert mk(1, 4096, 8).split == 1  # per = 8 = SMs: one segment per sequence, nothing to split
    assert mk(2, 4096, 2, seg=192).split == 1  # 3 chunks per segment: no power of two above 1 divides it
    assert mk(1, 128, 1).split == 1  # two segments of one chunk each: a chunk is never split
    monkeypatch.setitem(triton_config.CONFIG, "seg_split", 8)
    assert mk(2, 4096, 2).split == 8  # a fixed count, dividing 16 chunks per segment
    monkeypatch.setitem(triton_config.CONFIG, "fwd_programs_per_sm", 1)  # 4 x 2 >= 0.9 x 8: forward segments of 2
    monkeypatch.setitem(triton_config.CONFIG, "seg_split", 1)
    p = mk(2, 4096, 2)  # coarse_split "auto": next_power_of_2(cdiv(32, 4 x 1)) = 8 pieces of 256 per 2048
    assert (p.seg, p.g, p.fwd_seg, p.fwd_g, p.split, p.coarse) == (1024, 4, 2048, 2, 8, True)


@pytest.mark.parametrize("split", [2, 4])
def test_triton_split_local_state_pass_matches_naive(monkeypatch, split):
    """Segments whose local states come from SPLIT pieces each: forward, all gradients (dq reads the pieces)."""
    monkeypatch.setitem(triton_config.CONFIG, "seg_split", split)
    inp = make_inputs(2, 150, 2, 16, 24, torch.float32, DEV, decay=[0.3, 2.0], state=True, seed=22)
    assert triton_plan.make_plan(2, 150, 2, 1, None, (16, 16), 64, torch.device(DEV)).split == split
    check(inp, torch.float32, op=tri(16, 64))


@pytest.mark.parametrize("state", [False, True])
def test_whole_sequence_forward_with_segmented_backward_matches_naive(monkeypatch, state):
    """B*H = 6 programs on 8 SMs with fwd_fill = 0.5: the forward runs whole sequences and writes the states
    entering the backward's segments (no local-state pass); the backward's dq starts each segment from them."""
    coarse_forward(monkeypatch)
    launched = []
    real = chunk_triton.launch
    monkeypatch.setattr(chunk_triton, "launch", lambda kind: launched.append(kind) or real(kind))
    p = triton_plan.make_plan(3, 100, 2, 1, None, (16, 16), None, torch.device(DEV))
    assert (p.fwd_whole, p.g, p.seg, p.split) == (True, 2, 64, 1)  # floor(16 / 6) = 2 backward segments of 64
    assert not triton_plan.make_plan(1, 100, 2, 1, None, (16, 16), None, torch.device(DEV)).fwd_whole  # 2 < 4
    assert not triton_plan.make_plan(3, 100, 2, 1, None, (16, 16), 32, torch.device(DEV)).fwd_whole  # explicit
    inp = make_inputs(3, 100, 2, 16, 24, torch.float32, DEV, decay=[0.3, 2.0], state=state, seed=23)
    check(inp, torch.float32, op=tri(16, None))
    assert launched[:3] == ["fwd_whole", "seg", "dq"]  # no local-state pass before the forward; seg_grad, dq


def test_cached_plans_follow_the_config_and_the_sm_count(monkeypatch):
    """Uniform batches' plans are cached: a CONFIG key the plan reads or another SM count gives the plan worked
    out afresh (here: 8 SMs, B*H = 2, T = 100, chunks 16), never the one cached before the change; the host
    helpers agree with Triton's."""
    import triton

    from litlab.attention.ops.triton_common import cdiv, next_pow2

    for a in range(1, 300):
        assert cdiv(a, 16) == triton.cdiv(a, 16) and next_pow2(a) == triton.next_power_of_2(a)
    dev = torch.device(DEV)
    coarse_forward(monkeypatch)
    plan = lambda: triton_plan.make_plan(1, 100, 2, 1, None, (16, 16), None, dev, tma=True)  # noqa: E731
    assert (plan().g, plan().fwd_g, plan().split) == (7, 2, 4)  # as in the coarse test below
    assert plan() is plan()  # cached
    monkeypatch.setitem(triton_config.CONFIG, "programs_per_sm", 1)  # 8 programs: 4 segments of 32
    assert (plan().g, plan().seg) == (4, 32)
    monkeypatch.setitem(triton_config.CONFIG, "fwd_fill", 1.0)  # the forward wants 8 programs: nothing merged
    assert (plan().fwd_g, plan().fwd_seg) == (4, 32)
    monkeypatch.setitem(triton_config.CONFIG, "fwd_fill", 0.5)
    monkeypatch.setitem(triton_config.CONFIG, "coarse_split", 1)
    assert (plan().fwd_g, plan().split) == (2, 1)
    monkeypatch.setattr(triton_plan, "_sms", lambda device: 2)  # B*H = 2 programs fill 2 SMs: whole sequences
    assert (plan().g, plan().use_seg) == (1, False)
    with pytest.raises(ValueError, match="segment_len: got 24, expected a positive multiple of chunk_size 16"):
        triton_plan.make_plan(1, 100, 2, 1, None, (16, 16), 24, dev)


def coarse_forward(monkeypatch, sms=8):
    """A GPU of ``sms`` SMs, 2 programs per SM for the backward's segments, the forward's merged while it keeps
    0.5 x 1 x SMs programs."""
    monkeypatch.setattr(triton_plan, "_sms", lambda device: sms)
    for key, val in (("programs_per_sm", 2), ("seg_round", "down"), ("fwd_programs_per_sm", 1), ("fwd_fill", 0.5)):
        monkeypatch.setitem(triton_config.CONFIG, key, val)


@pytest.mark.parametrize("dtype,inner", [(torch.float32, False), (torch.float16, False), (torch.float16, True)])
def test_coarse_forward_segments_with_finer_backward_segments_match_naive(monkeypatch, dtype, inner):
    """B = 1, H = 2 on 8 SMs: the backward cuts T = 100 into 7 segments of 16; a plan for the TMA forward merges
    them 4 at a time (2 segments of 64, local-state pass in 4 pieces each), and the forward writes the states
    entering all 7 (fp16: tensor descriptors; fp32: the pointer loads run the same plan, forced here: on their
    own they merge only into whole sequences). inner: the TMA forward stores the entering states from inside its
    chunk loop (fwd_tma_bounds_inner)."""
    coarse_forward(monkeypatch)
    _count_tma(monkeypatch)
    monkeypatch.setitem(triton_config.CONFIG, "fwd_tma_bounds_inner", inner)
    launched = []
    real = chunk_triton.launch
    monkeypatch.setattr(chunk_triton, "launch", lambda kind: launched.append(kind) or real(kind))
    p = triton_plan.make_plan(1, 100, 2, 1, None, (16, 16), None, torch.device(DEV), tma=True)
    assert (p.g, p.seg, p.fwd_g, p.fwd_seg, p.split, p.coarse, p.fwd_whole) == (7, 16, 2, 64, 4, True, False)
    p = triton_plan.make_plan(1, 100, 2, 1, None, (16, 16), None, torch.device(DEV), tma=False)
    assert (p.g, p.fwd_g, p.coarse) == (7, 7, False)
    if dtype == torch.float32:
        planned = chunk_triton.make_plan
        monkeypatch.setattr(chunk_triton, "make_plan", lambda *a: planned(*a[:-1], True))
    inp = make_inputs(1, 100, 2, 16, 16, dtype, DEV, decay=[0.3, 2.0], state=True, seed=31)
    check(inp, dtype, op=tri(16, None))
    fwd = "fwd_tma_launch" if dtype == torch.float16 else "fwd_seg"
    assert launched[:4] == ["seg", fwd, "seg", "dq"]  # local states of 2 forward segments; backward from LB


def _count_tma(monkeypatch):
    """Turn the forward's TMA copies on (for the small widths of these tests too) and count the launches that use
    them."""
    monkeypatch.setitem(triton_config.CONFIG, "fwd_tma", True)
    monkeypatch.setitem(triton_config.CONFIG, "fwd_tma_widths", (16, 32, 64, 128))
    monkeypatch.setitem(triton_config.CONFIG, "fwd_tma_pieces", True)
    used = []
    real = chunk_triton._use_tma
    monkeypatch.setattr(chunk_triton, "_use_tma", lambda *a: used.append(real(*a)) or used[-1])
    return used


@pytest.mark.parametrize(
    "t,d,e,decay,state,chunk,seg,elems",
    [
        (1, 16, 16, None, True, 64, None, 8192),  # one row: the accelerator zero-fills the other 63
        (70, 32, 32, [0.5, 0.0039], True, 16, None, 8192),  # a short last chunk
        (70, 32, 32, [0.0, 7.9], False, 16, 32, 256),  # segments; two E tiles of 16 (column offset e0)
        (130, 16, 64, [0.3, 2.0], True, 32, 64, 512),  # E != D, segments, E tiles of 32
    ],
)
def test_triton_forward_tma_matches_naive(monkeypatch, t, d, e, decay, state, chunk, seg, elems):
    """fwd_tma: the forward's q, k, v, o tiles through tensor descriptors (fp16; under the interpreter on CPU);
    o, the final state and every gradient against float64."""
    used = _count_tma(monkeypatch)
    monkeypatch.setitem(triton_config.CONFIG, "fwd", {**triton_config.CONFIG["fwd"], "elems": elems})
    inp = make_inputs(2, t, 2, d, e, torch.float16, DEV, decay=decay, state=state, seed=t + 5)
    check(inp, torch.float16, op=tri(chunk, seg))
    assert used and all(used)


@pytest.mark.parametrize("inner", [False, True])
def test_triton_forward_tma_in_pieces_and_the_whole_sequence_forward(monkeypatch, inner):
    """fwd_tma with heads cut into 2 x 2 pieces (descriptors over last-dim slices at a column offset; the second
    K piece adds to o through the descriptor) and in the whole-sequence forward, whose chunk loop restarts at
    every backward segment."""
    used = _count_tma(monkeypatch)
    monkeypatch.setitem(triton_config.CONFIG, "fwd_tma_bounds_inner", inner)
    monkeypatch.setattr(chunk_triton, "MAX_DIM", 16)
    coarse_forward(monkeypatch)
    assert triton_plan.make_plan(3, 100, 2, 1, None, (16, 16), None, torch.device(DEV)).fwd_whole
    inp = make_inputs(3, 100, 2, 32, 32, torch.float16, DEV, decay=[0.3, 2.0], state=True, seed=29)
    check(inp, torch.float16, op=tri(16, None))
    assert len(used) == 5 and all(used)  # the plan's check (one for the four 16 x 16 pieces), 4 launches


def test_forward_tma_is_used_only_where_it_is_exact(monkeypatch):
    """Packed sequences, fp32, head dims that do not fill their tile (columns of the next head) and unaligned
    rows keep the pointer loads."""
    used = _count_tma(monkeypatch)
    cases = [
        (dict(b=1, t=40, d=16, e=16, dtype=torch.float16), torch.tensor([0, 15, 40])),
        (dict(b=2, t=40, d=16, e=16, dtype=torch.float32), None),
        (dict(b=2, t=40, d=24, e=16, dtype=torch.float16), None),
        (dict(b=2, t=40, d=16, e=24, dtype=torch.float16), None),
    ]
    for shape, cu in cases:
        inp = make_inputs(shape["b"], shape["t"], 2, shape["d"], shape["e"], shape["dtype"], DEV, seed=4)
        run(inp, "triton", op=tri(16, None), grad=False, cu_seqlens=None if cu is None else cu.to(DEV))
    q = torch.zeros(2, 16, 3, 16, dtype=torch.float16, device=DEV)
    odd = torch.zeros(2, 16, 3, 20, dtype=torch.float16, device=DEV)[..., :16]  # rows 60 elements = 120 bytes apart
    shifted = torch.zeros(2, 16, 3, 24, dtype=torch.float16, device=DEV)[..., 4:20]  # starts 8 bytes in
    assert chunk_triton._use_tma(q, q, q, q, None, 16, 16, (16, 16))
    assert not chunk_triton._use_tma(odd, q, q, q, None, 16, 16, (20, 16))
    assert not chunk_triton._use_tma(shifted, q, q, q, None, 16, 16, (24, 16))
    assert not chunk_triton._use_tma(q, q, q, q, torch.tensor([0, 32], device=DEV), 16, 16, (16, 16))
    wide = torch.zeros(2, 16, 3, 32, dtype=torch.float16, device=DEV)
    for k_piece, v_piece in ((wide[..., :16], wide[..., 16:]), (wide[..., 16:], wide[..., :16])):
        assert chunk_triton._use_tma(k_piece, k_piece, v_piece, v_piece, None, 16, 16, (32, 32))
        monkeypatch.setitem(triton_config.CONFIG, "fwd_tma_pieces", False)  # the shipped setting: whole heads
        assert not chunk_triton._use_tma(k_piece, k_piece, v_piece, v_piece, None, 16, 16, (32, 32))
        monkeypatch.setitem(triton_config.CONFIG, "fwd_tma_pieces", True)
    monkeypatch.setitem(triton_config.CONFIG, "fwd_tma_widths", (128,))  # the shipped widths
    assert not chunk_triton._use_tma(q, q, q, q, None, 16, 16, (16, 16))
    assert used[: len(cases)] == [False] * len(cases)  # per case the plan's check (the launch's then is skipped)


def test_triton_automatic_segments_match_naive(monkeypatch):
    """seg=None on a GPU with more SMs than B*H: the plan cuts T = 75 into 5 segments of 16 (CPU has 1 SM)."""
    monkeypatch.setattr(triton_plan, "_sms", lambda device: 8)
    monkeypatch.setitem(triton_config.CONFIG, "programs_per_sm", 4)
    inp = make_inputs(1, 75, 2, 16, 16, torch.float32, DEV, decay=[0.3, 2.0], state=True, seed=13)
    assert triton_plan.make_plan(1, 75, 2, 1, None, (16, 16), None, torch.device(DEV)).num_items == 5
    check(inp, torch.float32, op=tri(16, None))


def test_segment_passes_skip_tokens_out_of_decay_reach(monkeypatch):
    """The local-state pass (L) and the state-gradient pass (M) skip chunks of tokens farther than reach = 150 / s
    from the segment boundary they are decayed to. Head 1 (s = 4: reach 37.5 tokens) has k, v (q, dO) of tokens
    at least reach + C from that boundary set to inf, so a read shows (inf or NaN); the segments' sums decayed to the
    boundary must still match float64 over the clean tokens. Head 0 (s = 0) skips nothing."""
    monkeypatch.setitem(triton_config.CONFIG, "seg_split", 2)
    c, seg, t, h, d = 16, 128, 300, 2, 16
    dec = torch.tensor([0.0, 4.0], device=DEV)
    reach = 150 / 4.0
    g = torch.Generator().manual_seed(41)
    k, v, q, do = (torch.randn(1, t, h, d, generator=g, dtype=torch.float64) for _ in range(4))
    plan = triton_plan.make_plan(1, t, h, 1, None, (c, c), seg, torch.device(DEV))
    assert (plan.g, plan.split) == (3, 2)
    starts = torch.arange(0, t, seg)
    pos = torch.arange(t)
    seg_start = starts[pos // seg]
    seg_end = torch.clamp(seg_start + seg, max=t)
    far_l = seg_end - 1 - pos >= reach + c  # out of reach of the segment's end
    far_m = pos - seg_start + 1 >= reach + c  # out of reach of its start
    assert far_l.sum() > 100 and far_m.sum() > 100
    head1 = torch.arange(h) == 1
    poison = lambda x, far: torch.where((far[:, None] & head1)[None, :, :, None], float("inf"), x)  # noqa: E731
    dev = lambda x: x.float().to(DEV).contiguous()  # noqa: E731
    com = chunk_triton._common(plan, dev(k), h, d, d, True, c)
    com.update(SK=d, SE=d)
    L = torch.full((plan.num_items * 2, h, d, d), float("nan"), device=DEV)
    triton_seg.seg_state_kernel[(h * plan.num_items * 2,)](
        dev(poison(k, far_l)), dev(poison(v, far_l)), dec, L, SPLIT=2, BK=d, BE=d, NE=1, IEEE=True, **com
    )
    M = torch.full((plan.num_items, h, d, d), float("nan"), device=DEV)
    triton_seg.seg_grad_kernel[(h * plan.num_items,)](
        dev(poison(q, far_m)), dev(poison(do, far_m)), dec, M, scale=1.0, BK=d, BE=d, NE=1, IEEE=True, **com
    )
    lam = torch.exp(-dec.double().cpu())
    for gi in range(plan.g):
        s0, s1 = gi * seg, min(gi * seg + seg, t)
        w_l = lam[None, :] ** (s1 - 1 - torch.arange(s0, s1))[:, None]  # [tokens, H]
        w_m = lam[None, :] ** (torch.arange(s0, s1) - s0 + 1)[:, None]
        want_l = torch.einsum("th,thd,the->hde", w_l, k[0, s0:s1], v[0, s0:s1])
        want_m = torch.einsum("th,thd,the->hde", w_m, q[0, s0:s1], do[0, s0:s1])
        if gi < plan.g - 1:  # the last segment's local state is never read, so never computed
            got_l = sum(
                L[gi * 2 + p].double().cpu() * lam[:, None, None] ** (s1 - min(s0 + (p + 1) * 64, s1)) for p in range(2)
            )
            assert rel(got_l, want_l) <= 1e-5, gi
        if gi > 0:  # the first segment's gradient is never read
            assert rel(M[gi].double().cpu(), want_m) <= 1e-5, gi


@pytest.mark.parametrize("which", ["batch", "time"])
def test_forward_tma_takes_its_strides_from_the_layout(monkeypatch, which):
    """A contiguous tensor's size-1 dims may carry any stride (B = 1: stride 3 on the batch dim; T = 1: 5 on the
    time dim); the descriptors take the row layout the kernels index, not ``stride()``."""
    used = _count_tma(monkeypatch)
    b, t = (1, 40) if which == "batch" else (3, 1)
    inp = make_inputs(b, t, 2, 16, 16, torch.float16, DEV, decay=[0.3, 2.0], state=True, seed=6)
    dim, odd = (0, 3) if which == "batch" else (1, 5)
    for name in ("q", "k", "v"):
        x = inp[name]
        stride = list(x.stride())
        stride[dim] = odd
        inp[name] = x.as_strided(x.shape, stride)
        assert inp[name].is_contiguous() and inp[name].stride(dim) == odd
    check(inp, torch.float16, op=tri(16, None))
    assert used and all(used)


@pytest.mark.parametrize(
    "t,d,e,seg,elems,pieces",
    [
        (70, 32, 32, None, 8192, False),  # a short last chunk
        (130, 32, 64, 32, 256, False),  # segments, two K tiles of 16 (column offset), E != D
        (100, 32, 32, None, 8192, True),  # 2 x 2 pieces of 16: the E pieces after the first add to dq
    ],
)
def test_dq_kernel_tma_matches_naive(monkeypatch, t, d, e, seg, elems, pieces):
    """dq_tma: the dq kernel's k, v, dO, q (decay gradient) and dq through tensor descriptors (fp16, the
    interpreter); every gradient, the decay's included, against float64."""
    _count_tma(monkeypatch)
    monkeypatch.setitem(triton_config.CONFIG, "dq_tma", True)
    monkeypatch.setitem(triton_config.CONFIG, "dq", {**triton_config.CONFIG["dq"], "elems": elems})
    if pieces:
        monkeypatch.setattr(chunk_triton, "MAX_DIM", 16)
    launched = []
    real = chunk_triton.launch
    monkeypatch.setattr(chunk_triton, "launch", lambda kind: launched.append(kind) or real(kind))
    inp = make_inputs(2, t, 2, d, e, torch.float16, DEV, decay=[0.3, 2.0], state=True, seed=t + 9)
    check(inp, torch.float16, op=tri(16, seg))
    assert "dq_tma_launch" in launched and "dq" not in launched
