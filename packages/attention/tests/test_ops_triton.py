"""Triton kernels vs the float64 naive reference (relative Frobenius error, fp32 <= 1e-5, fp16 <= 1e-2).

On CPU these run under TRITON_INTERPRET=1 (set by conftest) with fp32/fp16 and small shapes; with a GPU the
same cases run compiled on CUDA. Every buffer a kernel must fill starts as NaN (``POISON``).
"""

from dataclasses import replace

import pytest
import torch

from litlab.attention.ops import chunk_triton, lightning_attn, triton_phases, triton_plan, triton_seg
from litlab.attention.ops.recurrent import step_torch
from litlab.attention.ops.recurrent_triton import step_triton
from litlab.attention.ops.testing import compare, make_inputs, rel, run
from litlab.attention.ops.triton_config import HOPPER

DEV = "cuda" if torch.cuda.is_available() else "cpu"
F64 = torch.float64
TOL = {torch.float32: 1e-5, torch.float16: 1e-2}
# ds = -sum_t t (q.dq - k.dk) - ...: a difference of large sums, so fp32 loses digits to cancellation
DS_TOL = {torch.float32: 1e-4, torch.float16: 3e-2}


@pytest.fixture(autouse=True)
def poison(monkeypatch):
    monkeypatch.setattr(triton_phases, "POISON", True)


def tri(chunk=64, seg=None, cfg=None):
    """lightning_attn-like op that calls the Triton path with explicit chunk and segment lengths (and launch
    configuration)."""

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
            q, k, v, decay, scale, initial_state, cu_seqlens, output_final_state, chunk, seg, cfg
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


@pytest.mark.parametrize("t,d,e,decay,state,chunk,seg", [CASES[1], CASES[3]])
def test_triton_narrow_state_tiles_match_naive(t, d, e, decay, state, chunk, seg):
    """Narrower state tiles than the shipped ones: several E tiles per head in the forward and the local passes,
    several K tiles in the dq sweep."""
    cfg = replace(HOPPER, fwd_elems=256, dq_elems=256, local_elems=256)
    inp = make_inputs(2, t, 2, d, e, torch.float32, DEV, decay=decay, state=state, seed=t + 1)
    check(inp, torch.float32, op=tri(chunk, seg, cfg))


def test_triton_separate_forward_and_backward_chunks():
    """Forward chunk 16, backward chunk 32 (segments of 32), and a scale other than 1/sqrt(D)."""
    cfg = replace(HOPPER, fwd_chunk=16, bwd_chunk=32)
    inp = make_inputs(1, 75, 2, 16, 16, torch.float32, DEV, decay=[0.3, 2.0], state=True, seed=12)
    check(inp, torch.float32, op=tri(None, 32, cfg), scale=0.7)


def record_phases(monkeypatch) -> list:
    """The phase names whose launch options are read, in launch order."""
    phases = []
    real = triton_phases.launch_options
    monkeypatch.setattr(triton_phases, "launch_options", lambda cfg, phase: phases.append(phase) or real(cfg, phase))
    return phases


def test_segmented_forward_takes_its_own_launch_options(monkeypatch):
    kinds = record_phases(monkeypatch)
    inp = make_inputs(1, 40, 2, 16, 16, torch.float32, DEV, decay=[0.3, 0.0], seed=8)
    whole, cut = (run(inp, "triton", op=tri(16, seg), grad=False) for seg in (None, 16))
    assert kinds == ["fwd", "local", "fwd_seg"]  # one segment: the plain forward; three: local states, fwd_seg
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
    real = chunk_triton.chunk_fwd
    monkeypatch.setattr(chunk_triton, "chunk_fwd", lambda *a, **kw: stored.append(a[7]) or real(*a, **kw))
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


@pytest.mark.parametrize("b,t,d,e,seg", [(1, 33, 40, 24, None), (2, 70, 16, 40, 32), (2, 40, 36, 16, None)])
def test_triton_head_dims_above_the_tile_limit_run_as_pieces(monkeypatch, b, t, d, e, seg):
    """D, E above MAX_DIM run as K x E pieces reading and writing slices in place: K pieces add their outputs
    to o, dq and dk sum over E pieces, dv over K pieces (MAX_DIM = 16 here: D = 40 is 3 K pieces of 14, 13, 13;
    E = 40 is 3 E pieces), with segments, decay and initial state."""
    monkeypatch.setattr(chunk_triton, "MAX_DIM", 16)
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


def plan(b, t, h, lens=None, cfg=HOPPER, seg=None):
    cu = None if lens is None else torch.tensor([0, *torch.tensor(lens).cumsum(0).tolist()])
    p = triton_plan.make_plan(b, t, h, 1, cu, cfg, seg, torch.device("cpu"))
    return p.seg, p.num_items, p.use_seg, None if p.items is None else p.items.tolist()


def test_segment_plan_edge_cases(monkeypatch):
    """The automatic segment length on a GPU of 8 SMs (at most 4 programs per SM), worked out by hand."""
    monkeypatch.setattr(triton_plan, "_sms", lambda device: 8)
    cfg = replace(HOPPER, programs_per_sm=4)
    assert plan(1, 1, 2, cfg=cfg) == (64, 1, False, None)  # T = 1: one chunk
    assert plan(1, 63, 2, cfg=cfg) == (64, 1, False, None)  # T below one chunk
    assert plan(1, 1000, 2, cfg=cfg) == (64, 16, True, None)  # 2 programs: min(32 / 2, 16 chunks) segments
    assert plan(7, 1000, 1, cfg=cfg) == (256, 28, True, None)  # floor(32 / 7) = 4 segments of cdiv(250) = 256
    assert plan(2, 1000, 4, cfg=cfg) == (1024, 2, False, None)  # B*H = 8 SMs: one segment per sequence
    assert plan(5, 1000, 1, cfg=cfg) == (192, 30, True, None)  # floor(32 / 5) = 6 -> cdiv(1000, 6) = 167 -> 192
    assert plan(3, 4096, 1, cfg=cfg) == (448, 30, True, None)  # floor(32 / 3) = 10 -> 410 -> 448: 30 programs <= 32
    # varlen: seg = 305 * 2 // 32 tokens rounded up to a chunk; an empty sequence still gets one item
    assert plan(1, 305, 2, lens=[0, 5, 0, 300], cfg=cfg) == (
        64,
        8,
        True,
        [[0, 0], [1, 0], [2, 0], *[[3, j] for j in range(5)]],
    )
    assert plan(1, 0, 2, lens=[0, 0], cfg=cfg) == (64, 2, False, [[0, 0], [1, 0]])
    two = replace(cfg, fwd_chunk=16)
    assert plan(1, 100, 2, cfg=two, seg=128)[:3] == (128, 1, False)
    with pytest.raises(ValueError, match="multiple of chunk_size 64"):
        plan(1, 100, 2, cfg=two, seg=32)  # a segment must hold whole chunks of both kernels
    with pytest.raises(ValueError, match="fwd_chunk: got 24, expected a power of two"):
        replace(HOPPER, fwd_chunk=24)


def test_segment_split_plan(monkeypatch):
    """Pieces per merged forward segment of the local-state pass, worked out by hand on a GPU of 8 SMs."""
    monkeypatch.setattr(triton_plan, "_sms", lambda device: 8)
    cfg = replace(HOPPER, programs_per_sm=2, fwd_programs_per_sm=1, fwd_fill=0.9, split_programs_per_sm=4)
    mk = lambda b, t, h, seg=None, tma=True: triton_plan.make_plan(b, t, h, 1, None, cfg, seg, "cpu", tma)  # noqa: E731
    # per = 4 programs: floor(16 / 4) = 4 backward segments of 1024; 4 x cdiv(4, 2) = 8 >= 0.9 x 8 programs:
    # forward segments of 2048, whose local-state pass runs next_pow2(cdiv(4 x 8, 4 x 1)) = 8 pieces of 256
    p = mk(2, 4096, 2)
    assert (p.seg, p.g, p.fwd_seg, p.fwd_g, p.split, p.coarse) == (1024, 4, 2048, 2, 8, True)
    p = mk(2, 4096, 2, tma=False)  # the pointer forward keeps the backward's segments: no pieces
    assert (p.fwd_g, p.split, p.coarse) == (4, 1, False)
    assert mk(2, 4096, 2, seg=1024).split == 1  # an explicit segment length: nothing merged
    assert mk(1, 4096, 8).split == 1  # per = 8 = SMs: one segment per sequence, nothing to split


@pytest.mark.parametrize("state", [False, True])
def test_whole_sequence_forward_with_segmented_backward_matches_naive(monkeypatch, state):
    """B*H = 6 programs on 8 SMs with fwd_fill = 0.5: the forward runs whole sequences and writes the states
    entering the backward's segments (no local-state pass); the backward's dq starts each segment from them."""
    cfg = coarse_forward(monkeypatch)
    launched = record_phases(monkeypatch)
    p = triton_plan.make_plan(3, 100, 2, 1, None, cfg, None, torch.device(DEV))
    assert (p.fwd_whole, p.g, p.seg, p.split) == (True, 2, 64, 1)  # floor(16 / 6) = 2 backward segments of 64
    assert not triton_plan.make_plan(1, 100, 2, 1, None, cfg, None, torch.device(DEV)).fwd_whole  # 2 < 4
    assert not triton_plan.make_plan(3, 100, 2, 1, None, cfg, 32, torch.device(DEV)).fwd_whole  # explicit
    inp = make_inputs(3, 100, 2, 16, 24, torch.float32, DEV, decay=[0.3, 2.0], state=state, seed=23)
    check(inp, torch.float32, op=tri(16, None, cfg))
    assert launched[:3] == ["fwd_whole", "local", "dq"]  # no local-state pass before the forward; M, dq


def test_cached_plans_are_keyed_by_the_config_and_the_sm_count(monkeypatch):
    """Uniform batches' plans are cached by (shapes, SM count, frozen config): an equal configuration gets the
    cached plan, another one or another SM count the plan worked out afresh (8 SMs, B*H = 2, T = 100, chunks 16);
    the host helpers agree with Triton's."""
    import triton

    from litlab.attention.ops.triton_common import cdiv, next_pow2

    for a in range(1, 300):
        assert cdiv(a, 16) == triton.cdiv(a, 16) and next_pow2(a) == triton.next_power_of_2(a)
    dev = torch.device(DEV)
    cfg = coarse_forward(monkeypatch)
    plan = lambda c=cfg: triton_plan.make_plan(1, 100, 2, 1, None, c, None, dev, tma=True)  # noqa: E731
    assert (plan().g, plan().fwd_g, plan().split) == (7, 2, 4)  # as in the coarse test below
    assert plan() is plan(replace(cfg))  # an equal configuration: the cached plan
    one = replace(cfg, programs_per_sm=1)  # 8 programs: 4 segments of 32
    assert (plan(one).g, plan(one).seg) == (4, 32)
    assert (plan(replace(one, fwd_fill=1.0)).fwd_g, plan(replace(one, fwd_fill=1.0)).fwd_seg) == (4, 32)
    assert (plan(replace(one, fwd_fill=0.5)).fwd_g, plan(replace(one, fwd_fill=0.5)).split) == (2, 4)
    monkeypatch.setattr(triton_plan, "_sms", lambda device: 2)  # B*H = 2 programs fill 2 SMs: whole sequences
    assert (plan().g, plan().use_seg) == (1, False)
    with pytest.raises(ValueError, match="segment_len: got 24, expected a positive multiple of chunk_size 16"):
        triton_plan.make_plan(1, 100, 2, 1, None, cfg, 24, dev)


def coarse_forward(monkeypatch, sms=8):
    """A GPU of ``sms`` SMs and a configuration with 2 programs per SM for the backward's segments, the
    forward's merged while it keeps 0.5 x 1 x SMs programs; chunks of 16."""
    monkeypatch.setattr(triton_plan, "_sms", lambda device: sms)
    return replace(HOPPER, fwd_chunk=16, bwd_chunk=16, programs_per_sm=2, fwd_programs_per_sm=1, fwd_fill=0.5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_coarse_forward_segments_with_finer_backward_segments_match_naive(monkeypatch, dtype):
    """B = 1, H = 2 on 8 SMs: the backward cuts T = 100 into 7 segments of 16; a plan for the TMA forward merges
    them 4 at a time (2 segments of 64, local-state pass in 4 pieces each), and the forward writes the states
    entering all 7 (fp16: tensor descriptors; fp32: the pointer loads run the same plan, forced here: on their
    own they merge only into whole sequences)."""
    cfg = replace(coarse_forward(monkeypatch), tma_widths=TMA_WIDTHS)
    _count_tma(monkeypatch)
    launched = record_phases(monkeypatch)
    p = triton_plan.make_plan(1, 100, 2, 1, None, cfg, None, torch.device(DEV), tma=True)
    assert (p.g, p.seg, p.fwd_g, p.fwd_seg, p.split, p.coarse, p.fwd_whole) == (7, 16, 2, 64, 4, True, False)
    p = triton_plan.make_plan(1, 100, 2, 1, None, cfg, None, torch.device(DEV), tma=False)
    assert (p.g, p.fwd_g, p.coarse) == (7, 7, False)
    if dtype == torch.float32:
        planned = chunk_triton.make_plan
        monkeypatch.setattr(chunk_triton, "make_plan", lambda *a: planned(*a[:-1], True))
    inp = make_inputs(1, 100, 2, 16, 16, dtype, DEV, decay=[0.3, 2.0], state=True, seed=31)
    check(inp, dtype, op=tri(None, None, cfg))
    fwd = "fwd_tma" if dtype == torch.float16 else "fwd_seg"
    assert launched[:4] == ["local", fwd, "local", "dq"]  # local states of 2 forward segments; backward from LB


TMA_WIDTHS = (16, 32, 64, 128)  # the interpreter tests run the TMA forward at small widths too


def _count_tma(monkeypatch):
    """Count the launches that copy tiles with the tensor memory accelerator (with a config of TMA_WIDTHS)."""
    used = []
    real = triton_phases.use_tma
    fake = lambda *a: used.append(real(*a)) or used[-1]  # noqa: E731
    monkeypatch.setattr(triton_phases, "use_tma", fake)
    monkeypatch.setattr(chunk_triton, "use_tma", fake)
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
    """The forward's q, k, v, o tiles through tensor descriptors (fp16; under the interpreter on CPU); o, the
    final state and every gradient against float64."""
    used = _count_tma(monkeypatch)
    cfg = replace(HOPPER, tma_widths=TMA_WIDTHS, fwd_elems=elems)
    inp = make_inputs(2, t, 2, d, e, torch.float16, DEV, decay=decay, state=state, seed=t + 5)
    check(inp, torch.float16, op=tri(chunk, seg, cfg))
    assert used and all(used)


def test_triton_forward_tma_in_the_whole_sequence_forward(monkeypatch):
    """The TMA forward running whole sequences, whose chunk loop restarts at every backward segment (it stores
    the states entering them), while heads cut into pieces keep the pointer loads."""
    used = _count_tma(monkeypatch)
    cfg = replace(coarse_forward(monkeypatch), tma_widths=TMA_WIDTHS)
    assert triton_plan.make_plan(3, 100, 2, 1, None, cfg, None, torch.device(DEV)).fwd_whole
    inp = make_inputs(3, 100, 2, 16, 16, torch.float16, DEV, decay=[0.3, 2.0], state=True, seed=29)
    check(inp, torch.float16, op=tri(None, None, cfg))
    assert len(used) == 2 and all(used)  # the plan's check and the launch
    monkeypatch.setattr(chunk_triton, "MAX_DIM", 16)
    used.clear()
    inp = make_inputs(3, 100, 2, 32, 32, torch.float16, DEV, decay=[0.3, 2.0], state=True, seed=29)
    check(inp, torch.float16, op=tri(None, None, cfg))
    assert used == [False]  # the four 16 x 16 pieces share one plan, checked once


def test_forward_tma_is_used_only_where_it_is_exact(monkeypatch):
    """Packed sequences, fp32, head dims that do not fill their tile (columns of the next head), pieces of wider
    heads, unaligned rows and widths outside the configuration keep the pointer loads."""
    used = _count_tma(monkeypatch)
    cfg = replace(HOPPER, tma_widths=TMA_WIDTHS)
    cases = [
        (dict(b=1, t=40, d=16, e=16, dtype=torch.float16), torch.tensor([0, 15, 40])),
        (dict(b=2, t=40, d=16, e=16, dtype=torch.float32), None),
        (dict(b=2, t=40, d=24, e=16, dtype=torch.float16), None),
        (dict(b=2, t=40, d=16, e=24, dtype=torch.float16), None),
    ]
    for shape, cu in cases:
        inp = make_inputs(shape["b"], shape["t"], 2, shape["d"], shape["e"], shape["dtype"], DEV, seed=4)
        run(inp, "triton", op=tri(16, None, cfg), grad=False, cu_seqlens=None if cu is None else cu.to(DEV))
    assert used[: len(cases)] == [False] * len(cases)  # per case the plan's check (the launch's then is skipped)
    q = torch.zeros(2, 16, 3, 16, dtype=torch.float16, device=DEV)
    odd = torch.zeros(2, 16, 3, 20, dtype=torch.float16, device=DEV)[..., :16]  # rows 60 elements = 120 bytes apart
    shifted = torch.zeros(2, 16, 3, 24, dtype=torch.float16, device=DEV)[..., 4:20]  # starts 8 bytes in
    P = triton_phases.Piece
    use = triton_phases.use_tma
    assert use(cfg, P(q, q, q, 16, 16), q, None, 16, 16)
    assert not use(HOPPER, P(q, q, q, 16, 16), q, None, 16, 16)  # the shipped widths: 128 only
    assert not use(cfg, P(odd, q, q, 20, 16), q, None, 16, 16)
    assert not use(cfg, P(shifted, q, q, 24, 16), q, None, 16, 16)
    assert not use(cfg, P(q, q, q, 16, 16), q, torch.tensor([0, 32], device=DEV), 16, 16)
    wide = torch.zeros(2, 16, 3, 32, dtype=torch.float16, device=DEV)
    for k_piece, v_piece in ((wide[..., :16], wide[..., 16:]), (wide[..., 16:], wide[..., :16])):
        assert not use(cfg, P(k_piece, k_piece, v_piece, 32, 32), v_piece, None, 16, 16)  # pieces of wider heads


def test_triton_automatic_segments_match_naive(monkeypatch):
    """seg=None on a GPU with more SMs than B*H: the plan cuts T = 75 into 5 segments of 16 (CPU has 1 SM)."""
    monkeypatch.setattr(triton_plan, "_sms", lambda device: 8)
    cfg = replace(HOPPER, fwd_chunk=16, bwd_chunk=16, programs_per_sm=4)
    inp = make_inputs(1, 75, 2, 16, 16, torch.float32, DEV, decay=[0.3, 2.0], state=True, seed=13)
    assert triton_plan.make_plan(1, 75, 2, 1, None, cfg, None, torch.device(DEV)).num_items == 5
    check(inp, torch.float32, op=tri(None, None, cfg))


def test_segment_passes_skip_tokens_out_of_decay_reach(monkeypatch):
    """The local-state pass (L) and the state-gradient pass (M) skip chunks of tokens farther than reach = 150 / s
    from the segment boundary they are decayed to. Head 1 (s = 4: reach 37.5 tokens) has k, v (q, dO) of tokens
    at least reach + C from that boundary set to inf, so a read shows (inf or NaN); the segments' sums decayed to the
    boundary must still match float64 over the clean tokens. Head 0 (s = 0) skips nothing."""
    c, seg, t, h, d = 16, 128, 300, 2, 16
    dec = torch.tensor([0.0, 4.0], device=DEV)
    reach = 150 / 4.0
    g = torch.Generator().manual_seed(41)
    k, v, q, do = (torch.randn(1, t, h, d, generator=g, dtype=torch.float64) for _ in range(4))
    plan = triton_plan.make_plan(1, t, h, 1, None, replace(HOPPER, fwd_chunk=c, bwd_chunk=c), seg, torch.device(DEV))
    assert plan.g == 3  # the local-state pass runs in 2 pieces per segment here (as merged forward segments do)
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
    com = triton_phases._common(plan, None, triton_phases.Piece(dev(k), dev(k), dev(v), d, d), True, c)
    L = torch.full((plan.num_items * 2, h, d, d), float("nan"), device=DEV)
    triton_seg.seg_state_kernel[(h * plan.num_items * 2,)](
        dev(poison(k, far_l)), dev(poison(v, far_l)), dec, L, SPLIT=2, BK=d, BE=d, NE=1, IEEE=True, **com
    )
    Ms = []
    for decay_grad in (False, True):  # products decayed from the segment's start or per chunk (decay gradient)
        Ms.append(torch.full((plan.num_items, h, d, d), float("nan"), device=DEV))
        triton_seg.seg_grad_kernel[(h * plan.num_items,)](
            dev(poison(q, far_m)),
            dev(poison(do, far_m)),
            dec,
            Ms[-1],
            scale=1.0,
            BK=d,
            BE=d,
            NE=1,
            IEEE=True,
            DECAY_GRAD=decay_grad,
            **com,
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
            for M in Ms:
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
    check(inp, torch.float16, op=tri(16, None, replace(HOPPER, tma_widths=TMA_WIDTHS)))
    assert used and all(used)


@pytest.mark.parametrize("seg", [None, 128])
def test_decay_gradient_of_fp16_inputs_is_not_amplified_rounding(seg):
    """ds = -sum_t t (q.dq - k.dk) - T <dS_T, S_T> is a difference of sums ~20x |ds| here (T = 512, slopes 1/4 and
    1/64): unless both sweeps round the same operands, fp16 rounding comes back amplified (the formulation with
    the state rounded to fp16 in the inter products gave 1.9e-2 and 7.5e-3 of ds per head). Both sweeps' partials
    now come from the same rounded products: within 2e-3 of float64 per head, as the other gradients are; with
    segments (seg = 128) the local gradients take part too."""
    inp = make_inputs(1, 512, 2, 32, 32, torch.float16, DEV, decay=[0.25, 2**-6], state=True, seed=5)
    got, ref = run(inp, "triton", op=tri(16, seg)), run(inp, "naive", precision=F64)
    per_head = (got["ddecay"].double() - ref["ddecay"]).abs() / ref["ddecay"].abs()
    assert per_head.max() <= 2e-3, per_head
    assert max(v for n, v in compare(got, ref).items()) <= 1e-3


def test_shipped_configuration_is_the_tuned_table():
    """The Hopper entry holds the values tuned on the H200 (chunks 64, 8192-element state tiles, the TMA forward
    at 128-wide tiles with 4 warps and 3 stages, pointer forward 4 / 2, whole sequences 4 / 3, local passes 4 / 3,
    dq 4 / 2, dk + dv 8 / 1, 2 backward programs per SM, the forward's own segments at 0.9 x 1 per SM); a config
    is frozen and hashable, and a JSON-style patch of all its fields gives it back."""
    import dataclasses

    from litlab.attention.ops.triton_config import PRE_HOPPER, TABLE, Launch, default_config

    c = TABLE[(9, 0)]
    assert (c.fwd_chunk, c.bwd_chunk, c.fwd_elems, c.local_elems, c.dq_elems) == (64, 64, 8192, 8192, 8192)
    assert (c.programs_per_sm, c.fwd_programs_per_sm, c.fwd_fill, c.split_programs_per_sm) == (2, 1, 0.9, 2)
    assert c.tma_widths == (128,) and PRE_HOPPER.tma_widths == ()
    launches = (c.fwd_tma, c.fwd, c.fwd_seg, c.fwd_whole, c.local, c.dq, c.dkv)
    assert launches == tuple(Launch(*x) for x in ((4, 3), (4, 2), (4, 2), (4, 3), (4, 3), (4, 2), (8, 1)))
    assert default_config(torch.device("cpu")) is c
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.fwd_chunk = 32
    assert c.patched(dataclasses.asdict(c)) == c and hash(c.patched({})) == hash(c)
    with pytest.raises(ValueError, match="patch: got field 'fuse_dkdv'"):
        c.patched({"fuse_dkdv": False})
