"""Prefix-LM attention in the Backbone: bidirectional inside each row's prefix, causal after it.

Softmax layers are checked against attention written out with an explicit mask built by loops; lightning
layers against the explicit weight matrix of their definition (prefix rows read S_{P-1}); both forward
and backward in float64, with per-row prefix lengths 0, inside, and T."""

import math

import pytest
import torch

from litlab.attention import Backbone
from litlab.attention.layers.lightning import LightningAttention
from litlab.attention.layers.softmax import SoftmaxAttention

T, PREFIX = 11, torch.tensor([0, 4, 11])


def _visible(t, p):
    return [[j <= i or j < p for j in range(t)] for i in range(t)]


def _naive_softmax(layer, x, prefix):
    q, k, v = layer._qkv(x, 0)  # (B, H, T, d)
    out = []
    for b, p in enumerate(prefix.tolist()):
        mask = torch.tensor(_visible(x.shape[1], p))
        s = q[b] @ k[b].transpose(-1, -2) / math.sqrt(layer.head_dim)
        a = torch.softmax(s.masked_fill(~mask, float("-inf")), -1) @ v[b]  # (H, T, d)
        out.append(a.transpose(0, 1).reshape(x.shape[1], -1))
    return layer.out_proj(torch.stack(out))


def _naive_lightning(layer, x, prefix):
    q, k, v, gate = layer._qkv(x)  # (B, T, H, d)
    lam = torch.exp(-layer.decay().double())  # (H,)
    t = x.shape[1]
    out = torch.zeros_like(v)
    for b, p in enumerate(prefix.tolist()):
        for i in range(t):
            for j in range(t):
                lag = (p - 1 - j) if i < p else (i - j)  # prefix rows read the state after the prefix
                if (i < p and j < p) or (i >= p and j <= i):
                    w = lam**lag * (q[b, i] * k[b, j]).sum(-1)  # (H,)
                    out[b, i] += w[:, None] * v[b, j]
    return layer._output(out, gate)


@pytest.mark.parametrize("kind", ["softmax", "lightning"])
def test_prefix_layer_matches_explicit_mask_forward_and_backward(kind):
    torch.manual_seed(0)
    if kind == "softmax":
        layer, naive = SoftmaxAttention(24, 2, 12, num_kv_heads=1), _naive_softmax
    else:
        layer, naive = LightningAttention(24, 2, 12, layer_idx=1, num_layers=3), _naive_lightning
    layer = layer.double()
    x = torch.randn(3, T, 24, dtype=torch.float64, requires_grad=True)
    y = layer(x, prefix_len=PREFIX)
    ref = naive(layer, x, PREFIX)
    torch.testing.assert_close(y, ref, rtol=1e-9, atol=1e-10)
    g = torch.randn_like(y)
    (gx,) = torch.autograd.grad(y, x, g)
    (gr,) = torch.autograd.grad(ref, x, g)
    torch.testing.assert_close(gx, gr, rtol=1e-8, atol=1e-10)
    causal = layer(x)  # a zero-length prefix is the causal layer; so are the rows after each prefix
    torch.testing.assert_close(y[0], causal[0])
    torch.testing.assert_close(y[1, 4:], causal[1, 4:]) if kind == "lightning" else None


@pytest.mark.parametrize("pattern", ["S", "L", "LS"])
def test_backbone_prefix_is_bidirectional_inside_and_causal_after(pattern):
    torch.manual_seed(0)
    net = Backbone(dim=32, num_layers=2, num_heads=2, head_dim=16, pattern=pattern).double().eval()
    x = torch.randn(2, T, 32, dtype=torch.float64)
    p = torch.tensor([5, 8])
    y = net(x, prefix_len=p)
    x2 = x.clone()
    x2[0, 4] += 1.0  # last prefix token of row 0: every position of row 0 must change
    x2[1, 9] += 1.0  # after row 1's prefix: only positions >= 9 may change
    y2 = net(x2, prefix_len=p)
    assert ((y2[0] - y[0]).abs().amax(-1) > 1e-6).all()
    assert torch.equal(y2[1, :9], y[1, :9]) and ((y2[1, 9:] - y[1, 9:]).abs().amax(-1) > 1e-6).all()
    torch.testing.assert_close(net(x, prefix_len=0), net(x))
    assert not torch.allclose(y[:, 0], net(x)[:, 0])


@pytest.mark.parametrize("pattern", ["S", "LS"])
def test_prefill_with_prefix_then_steps_equals_full_forward(pattern):
    torch.manual_seed(1)  # fp32: the lightning decoding state is fp32 by design
    net = Backbone(dim=32, num_layers=2, num_heads=2, head_dim=16, pattern=pattern).eval()
    x = torch.randn(2, T, 32)
    full = net(x, prefix_len=6)
    state = net.init_state(2)
    h, state = net.prefill(x[:, :6], state, prefix_len=6)
    steps = [h]
    for t in range(6, T):
        ht, state = net.step(x[:, t], state)
        steps.append(ht[:, None])
    torch.testing.assert_close(torch.cat(steps, 1), full, rtol=1e-5, atol=1e-5)


def test_prefix_len_errors_name_the_problem():
    net = Backbone(dim=16, num_layers=1, num_heads=1, head_dim=16, pattern="S")
    x = torch.randn(2, 5, 16)
    with pytest.raises(ValueError, match=r"prefix_len must lie in \[0, T=5\]"):
        net(x, prefix_len=torch.tensor([2, 6]))
    with pytest.raises(ValueError, match="integer tensor"):
        net(x, prefix_len=torch.tensor([2.0, 1.0]))
    state = net.init_state(2)
    _, state = net.prefill(x, state)
    with pytest.raises(ValueError, match="fresh state"):
        net.prefill(x, state, prefix_len=2)
