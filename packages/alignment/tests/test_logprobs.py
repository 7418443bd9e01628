"""Chunked label log-probs equal the plain log_softmax(H W^T).gather in float64, forward and backward."""

import pytest
import torch

from litlab.alignment.logprobs import HeadTransform, chunked_token_logps, naive_token_logps


def inputs(r=3, t=7, d=5, v=11, bias=True, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(r, t, d, generator=g, dtype=dtype).requires_grad_()
    w = torch.randn(v, d, generator=g, dtype=dtype).requires_grad_()
    b = torch.randn(v, generator=g, dtype=dtype).requires_grad_() if bias else None
    y = torch.randint(0, v, (r, t), generator=g)
    y[0, :3] = -100  # a prompt
    y[-1, -2:] = -100  # padding
    return h, w, b, y


def grads(out, params, seed=1):
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)
    return torch.autograd.grad((out * weights).sum(), [p for p in params if p is not None])


@pytest.mark.parametrize(
    "token_chunk,vocab_chunk",
    [(4, 3), (1, 1), (5, 11), (100, 4), (13, 100)],  # non-dividing, degenerate, whole
)
@pytest.mark.parametrize(
    "transform",
    [HeadTransform(), HeadTransform(logit_scale=0.7, softcap=3.0, temperature=1.3), HeadTransform(softcap=0.5)],
)
def test_chunked_equals_plain_forward_and_backward(token_chunk, vocab_chunk, transform):
    h, w, b, y = inputs()
    ref = naive_token_logps(h, w, y, b, transform)
    out = chunked_token_logps(h, w, y, b, transform, token_chunk=token_chunk, vocab_chunk=vocab_chunk)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    assert (out[y == -100] == 0).all()
    for got, exp in zip(grads(out, (h, w, b)), grads(ref, (h, w, b))):
        torch.testing.assert_close(got, exp, rtol=1e-10, atol=1e-12)


def test_head_transform_against_its_formula():
    """The reference above shares HeadTransform.apply with the kernel: check the map itself by hand,
    z' = softcap * tanh(z * logit_scale / softcap) / temperature, and its derivative."""
    h, w, b, y = inputs()
    transform = HeadTransform(logit_scale=0.7, softcap=3.0, temperature=1.3)
    z = h.detach() @ w.detach().T + b.detach()
    by_hand = (3.0 * torch.tanh(z * 0.7 / 3.0) / 1.3).log_softmax(-1)
    expected = by_hand.gather(-1, y.clamp_min(0)[..., None])[..., 0] * (y != -100)
    torch.testing.assert_close(naive_token_logps(h, w, y, b, transform), expected, rtol=1e-12, atol=1e-12)
    out = chunked_token_logps(h, w, y, b, transform, token_chunk=4, vocab_chunk=3)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    zz = torch.tensor([-7.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad((3.0 * torch.tanh(zz * 0.7 / 3.0) / 1.3).sum(), zz)
    torch.testing.assert_close(transform.derivative(zz.detach()), grad, rtol=1e-12, atol=1e-12)


def test_no_bias_and_only_some_inputs_need_grad():
    h, w, _, y = inputs(r=2, t=9, d=6, v=17, bias=False)
    w.requires_grad_(False)
    out = chunked_token_logps(h, w, y, token_chunk=5, vocab_chunk=4)
    (gh,) = grads(out, (h,))
    (eh,) = grads(naive_token_logps(h, w, y), (h,))
    torch.testing.assert_close(gh, eh)


def test_tied_embeddings_get_the_head_gradient():
    torch.manual_seed(0)
    emb = torch.nn.Embedding(13, 4).double()
    ids = torch.randint(0, 13, (2, 6))
    targets = torch.roll(ids, -1, 1)
    targets[:, -1] = -100

    def run(fn):
        emb.zero_grad()
        hidden = torch.tanh(emb(ids))  # a toy body sharing the embedding with the head
        fn(hidden, emb.weight, targets).sum().backward()
        return emb.weight.grad.clone()

    torch.testing.assert_close(
        run(lambda h, w, y: chunked_token_logps(h, w, y, token_chunk=3, vocab_chunk=5)), run(naive_token_logps)
    )


def test_fp32_and_bf16_close_to_float64():
    h, w, b, y = inputs(r=2, t=33, d=16, v=50, dtype=torch.float32)
    ref = naive_token_logps(h.double(), w.double(), y, b.double())
    out = chunked_token_logps(h, w, y, b, token_chunk=16, vocab_chunk=7)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)
    hb, wb, bb = (x.detach().bfloat16().requires_grad_() for x in (h, w, b))
    out_bf16 = chunked_token_logps(hb, wb, y, bb, token_chunk=16, vocab_chunk=7)
    assert out_bf16.dtype == torch.float32
    plain_bf16 = naive_token_logps(hb, wb, y, bb)
    err = lambda x: (x.double() - ref).abs().max().item()  # bf16 logits: both paths round the same way
    assert err(out_bf16) <= max(2 * err(plain_bf16), 0.05)
    rel = lambda a, b: ((a.double() - b.double()).norm() / b.double().norm()).item()
    exact = grads(ref, (h, w, b))
    for got, plain, e in zip(grads(out_bf16, (hb, wb, bb)), grads(plain_bf16, (hb, wb, bb)), exact):
        assert rel(got, e) <= max(2 * rel(plain, e), 1e-2)


def test_all_ignored_returns_zeros_with_a_graph():
    h, w, b, y = inputs()
    out = chunked_token_logps(h, w, torch.full_like(y, -100), b)
    assert (out == 0).all() and out.requires_grad


def test_bad_inputs():
    h, w, b, y = inputs()
    with pytest.raises(ValueError, match="hidden must be"):
        chunked_token_logps(h[0], w, y, b)
    with pytest.raises(ValueError, match="weight must be"):
        chunked_token_logps(h, w[:, :2], y, b)
    with pytest.raises(ValueError, match="bias must be"):
        chunked_token_logps(h, w, y, b[:3])
    with pytest.raises(ValueError, match="targets must be an integer"):
        chunked_token_logps(h, w, y[:, :2], b)
    with pytest.raises(ValueError, match=r"targets must be in \[0, V=11\)"):
        chunked_token_logps(h, w, y.clamp(max=11) + 1, b)
    with pytest.raises(ValueError, match="token_chunk"):
        chunked_token_logps(h, w, y, b, token_chunk=0)
    with pytest.raises(ValueError, match="dtype"):
        chunked_token_logps(h, w.float(), y, b)
    with pytest.raises(ValueError, match="softcap"):
        HeadTransform(softcap=-1.0)
    with pytest.raises(ValueError, match="temperature"):
        HeadTransform(temperature=0.0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_compiled_cuda_tiles_match_plain():
    h, w, b, y = (x.cuda() if x is not None else None for x in inputs(r=3, t=37, d=32, v=301, dtype=torch.float32))
    out = chunked_token_logps(h, w, y, b, token_chunk=16, vocab_chunk=64, compile=True)
    torch.testing.assert_close(out, naive_token_logps(h, w, y, b), rtol=1e-4, atol=1e-4)


def test_compiled_tiles_stop_recompiling_for_new_leftover_sizes(monkeypatch):
    """Batches whose labelled-token count is not a multiple of token_chunk leave tiles of varying size. With a
    static graph per size every new size recompiled (until Dynamo's recompile limit sent the rest to eager);
    now the first new size marks the dimension dynamic and later sizes reuse the graphs, with exact results."""
    from torch._dynamo.utils import counters

    from litlab.alignment.logprobs import chunked

    def run(t):  # 2t - 5 labelled tokens in tiles of 8
        h, w, b, y = inputs(r=2, t=t, d=8, v=40, dtype=torch.float64, seed=t)
        out = chunked_token_logps(h, w, y, b, token_chunk=8, vocab_chunk=40, compile=True)
        ref = naive_token_logps(h, w, y, b)
        torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
        got, want = (torch.autograd.grad(x.sum(), (h, w, b)) for x in (out, ref))
        for a, e in zip(got, want, strict=True):
            torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-10)

    monkeypatch.setattr(chunked, "_COMPILED", {})
    torch._dynamo.reset()
    counters.clear()
    for t in (10, 6, 12):  # tiles 8 + 7, 7, 8 + 8 + 3 (at storage offsets 0, 8, 16)
        run(t)
    graphs = counters["stats"]["unique_graphs"]
    for t in (9, 13, 5, 14):  # leftovers of 5, 5, 5, 7: sizes not seen before
        run(t)
    assert counters["stats"]["unique_graphs"] == graphs, (graphs, counters["stats"])
