"""Chunked PyTorch path and decode step vs the float64 naive reference (relative Frobenius error <= 1e-12)."""

import math

import pytest
import torch

from litlab.attention.ops import lightning_attn, lightning_attn_step, slopes
from litlab.attention.ops.chunk_torch import chunk_lightning_attn
from litlab.attention.ops.testing import compare, make_inputs, run

F64 = torch.float64
DECAYS = {"none": None, "zero": [0.0, 0.0], "alibi": [0.5, 0.0039], "tnl": [0.0, 7.9]}


@pytest.mark.parametrize("t", [1, 2, 15, 63, 64, 65, 130, 257])
@pytest.mark.parametrize("d,e", [(48, 48), (96, 20), (60, 32)])
@pytest.mark.parametrize("decay", ["none", "alibi", "tnl"])
def test_torch_matches_naive_float64(t, d, e, decay):
    inp = make_inputs(2, t, 2, d, e, F64, decay=DECAYS[decay], state=True, seed=t + d)
    got, ref = run(inp, "torch"), run(inp, "naive")
    errs = compare(got, ref)
    assert set(errs) == {"o", "final_state", "dq", "dk", "dv", "dinitial_state"} | (
        {"ddecay"} if decay != "none" else set()
    )
    assert max(errs.values()) <= 1e-12, errs


def test_decay_gradient_matches_finite_differences():
    inp = make_inputs(1, 37, 2, 16, 8, F64, decay=[0.3, 1.2], state=True, seed=3)
    got = run(inp, "torch")
    eps = 1e-6
    for h in range(2):
        lo, hi = dict(inp), dict(inp)
        lo["decay"] = inp["decay"].clone()
        hi["decay"] = inp["decay"].clone()
        lo["decay"][h] -= eps
        hi["decay"][h] += eps
        f = lambda x: (
            (run(x, "naive", grad=False)["o"] * x["do"]).sum()
            + (run(x, "naive", grad=False)["final_state"] * x["ds"]).sum()
        )
        fd = (f(hi) - f(lo)) / (2 * eps)
        assert abs(float(got["ddecay"][h]) - float(fd)) <= 1e-6 * max(1.0, abs(float(fd)))


def test_varlen_with_empty_sequence_matches_separate_calls():
    lens = [5, 0, 64, 65, 1]
    cu = torch.tensor([0, *torch.tensor(lens).cumsum(0).tolist()])
    t = int(cu[-1])
    inp = make_inputs(1, t, 2, 24, 16, F64, decay=[0.2, 1.0], state=True, n_seq=len(lens), seed=1)
    got, ref = run(inp, "torch", cu_seqlens=cu), run(inp, "naive", cu_seqlens=cu)
    assert max(compare(got, ref).values()) <= 1e-12
    # the empty sequence returns its initial state, and nothing leaks across boundaries
    assert torch.equal(got["final_state"][1], inp["initial_state"][1])
    for n, (a, b) in enumerate(zip(cu[:-1].tolist(), cu[1:].tolist())):
        if a == b:
            continue
        o, st = lightning_attn(
            inp["q"][:, a:b],
            inp["k"][:, a:b],
            inp["v"][:, a:b],
            inp["decay"],
            initial_state=inp["initial_state"][n : n + 1],
            output_final_state=True,
            backend="naive",
        )
        assert torch.allclose(got["o"][:, a:b], o, atol=1e-12, rtol=0)
        assert torch.allclose(got["final_state"][n : n + 1], st, atol=1e-12, rtol=0)


@pytest.mark.parametrize("decay", ["none", "alibi"])
def test_decode_steps_equal_parallel_forward(decay):
    inp = make_inputs(3, 40, 2, 16, 24, torch.float32, decay=DECAYS[decay], state=True, seed=2)
    ref = run(inp, "torch", grad=False)
    dec = None if inp["decay"] is None else inp["decay"]
    o_prefill, state = lightning_attn(
        inp["q"][:, :30],
        inp["k"][:, :30],
        inp["v"][:, :30],
        dec,
        initial_state=inp["initial_state"],
        output_final_state=True,
    )
    outs = [o_prefill]
    for t in range(30, 40):
        o_t, state = lightning_attn_step(inp["q"][:, t], inp["k"][:, t], inp["v"][:, t], state, dec)
        outs.append(o_t[:, None])
    o = torch.cat(outs, dim=1)
    assert (o - ref["o"]).norm() / ref["o"].norm() <= 1e-5
    assert (state - ref["final_state"]).norm() / ref["final_state"].norm() <= 1e-5


def test_chained_calls_equal_one_call_with_gradient_through_state():
    inp = make_inputs(2, 50, 2, 16, 16, F64, decay=[0.1, 0.7], state=True, seed=4)
    ref = run(inp, "naive")
    leaves = {n: inp[n].clone().requires_grad_() for n in ("q", "k", "v", "decay", "initial_state")}
    q, k, v, s, s0 = leaves.values()
    o1, st = lightning_attn(
        q[:, :23], k[:, :23], v[:, :23], s, initial_state=s0, output_final_state=True, backend="torch"
    )
    o2, st = lightning_attn(
        q[:, 23:], k[:, 23:], v[:, 23:], s, initial_state=st, output_final_state=True, backend="torch"
    )
    ((torch.cat([o1, o2], 1) * inp["do"]).sum() + (st * inp["ds"]).sum()).backward()
    got = {"o": torch.cat([o1, o2], 1), "final_state": st, **{"d" + n: x.grad for n, x in leaves.items()}}
    assert max(compare(got, ref).values()) <= 1e-12


def test_chunk_size_and_zero_slope_do_not_change_results():
    inp = make_inputs(1, 77, 2, 16, 16, torch.float32, state=True, seed=5)
    args = (inp["q"], inp["k"], inp["v"])
    o0, s0 = chunk_lightning_attn(*args, None, 0.25, inp["initial_state"], None, chunk_size=64)
    for cs in (1, 16, 100):
        o1, s1 = chunk_lightning_attn(*args, None, 0.25, inp["initial_state"], None, chunk_size=cs)
        assert (o1 - o0).norm() / o0.norm() <= 1e-5 and (s1 - s0).norm() / s0.norm() <= 1e-5
    o2, s2 = chunk_lightning_attn(*args, torch.zeros(2), 0.25, inp["initial_state"], None)
    assert (o2 - o0).norm() / o0.norm() <= 1e-5 and (s2 - s0).norm() / s0.norm() <= 1e-5


def test_non_contiguous_and_half_inputs():
    inp = make_inputs(2, 33, 3, 16, 16, F64, decay=[0.1, 0.2, 0.3], seed=6)
    q = inp["q"].transpose(0, 1).contiguous().transpose(0, 1)  # same values, other strides
    assert not q.is_contiguous()
    o, _ = lightning_attn(q, inp["k"], inp["v"], inp["decay"], backend="torch")
    o_ref, _ = lightning_attn(inp["q"], inp["k"], inp["v"], inp["decay"], backend="naive")
    assert (o - o_ref).norm() / o_ref.norm() <= 1e-12
    bf = {n: inp[n].to(torch.bfloat16) for n in ("q", "k", "v")}
    o_bf, st = lightning_attn(**bf, decay=inp["decay"].float(), output_final_state=True)
    assert o_bf.dtype == torch.bfloat16 and st.dtype == torch.float32
    assert (o_bf.double() - o_ref).norm() / o_ref.norm() <= 1e-2


@pytest.mark.slow
def test_long_sequence_with_steep_decay_stays_finite():
    """2^15 tokens, slopes up to 8 (lambda ~ 3e-4): log-space decays give no inf/NaN anywhere."""
    t = 2**15
    inp = make_inputs(1, t, 2, 16, 16, torch.float32, decay=[8.0, 0.0], state=True, seed=7)
    leaves = [inp[n].clone().requires_grad_() for n in ("q", "k", "v", "decay")]
    o, st = chunk_lightning_attn(*leaves, 1.0, inp["initial_state"], None, chunk_size=512)
    ((o * inp["do"]).sum() + st.sum()).backward()
    for x in (o, st, *(x.grad for x in leaves)):
        assert torch.isfinite(x).all()
    # with s = 8 the output is (up to e^-8 terms) the current token alone: o_t = q_t . k_t v_t
    direct = (inp["q"][0, -5:, 0] * inp["k"][0, -5:, 0]).sum(-1, keepdim=True) * inp["v"][0, -5:, 0]
    assert torch.allclose(o[0, -5:, 0], direct, rtol=2e-3, atol=2e-3)


def test_slopes_values():
    s = slopes(16, kind="alibi")
    assert torch.allclose(s[:3], torch.tensor([2**-0.5, 0.5, 2**-1.5])) and math.isclose(s[-1], 2**-8)
    assert torch.allclose(slopes(6, kind="alibi"), torch.tensor([2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3]))
    assert torch.allclose(slopes(4, 2, 5, "minimax"), slopes(4, kind="alibi") * (1 - 2 / 4 + 1e-5))
    assert torch.equal(slopes(4, 0, 1, "minimax"), slopes(4, kind="alibi"))
    tnl = slopes(64, 0, 10, "tnl_paper")
    assert tnl[0] == 0 and math.isclose(float(tnl[-1]), 7.875)
    with pytest.raises(ValueError, match="kind"):
        slopes(4, kind="cosine")
