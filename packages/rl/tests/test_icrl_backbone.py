"""The Backbone options the in-context agent uses (ALiBi / no positions, QK-norm, dropout, sliding window),
against naive float64 attention, and prefill + recurrent steps against one long forward for both kinds."""

import math

import pytest
import torch

from litlab.attention import Backbone
from litlab.attention.layers import KVCache, SoftmaxAttention
from litlab.attention.ops import alibi_slopes


def naive_attention(layer: SoftmaxAttention, x, window=None):
    """softmax(q k^T / sqrt(d) - m_h (i - j) + mask) v in float64, with loops over heads."""
    b, t, _ = x.shape
    h, d = layer.num_heads, layer.head_dim
    q = layer.q_proj(x).view(b, t, h, d)
    k, v = layer.kv_proj(x).view(b, t, 2, h, d).unbind(2)
    if layer.q_norm is not None:
        q, k = layer.q_norm(q), layer.k_norm(k)
    i, j = torch.arange(t)[:, None], torch.arange(t)[None, :]
    visible = (j <= i) & ((i - j < window) if window else True)
    out = torch.zeros(b, t, h, d, dtype=x.dtype)
    slopes = alibi_slopes(h)
    for head in range(h):
        s = q[:, :, head] @ k[:, :, head].transpose(1, 2) / math.sqrt(d)
        if layer.position == "alibi":
            s = s - slopes[head] * (i - j)
        s = s.masked_fill(~visible, float("-inf"))
        out[:, :, head] = torch.softmax(s, -1) @ v[:, :, head]
    return layer.out_proj(out.reshape(b, t, h * d))


@pytest.mark.parametrize("position, qk_norm, window", [("alibi", True, None), ("none", False, 5), ("alibi", False, 3)])
def test_softmax_options_match_naive_attention(position, qk_norm, window):
    torch.manual_seed(0)
    layer = SoftmaxAttention(24, 4, 6, position=position, qk_norm=qk_norm, window=window).double()
    if qk_norm:  # non-trivial LayerNorm parameters
        for p in (*layer.q_norm.parameters(), *layer.k_norm.parameters()):
            p.data.normal_()
    x = torch.randn(2, 13, 24, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    ref = naive_attention(layer, x, window)
    torch.testing.assert_close(y, ref)
    g = torch.randn_like(y)
    (gx,) = torch.autograd.grad((y * g).sum(), x)
    (gr,) = torch.autograd.grad((ref * g).sum(), x)
    torch.testing.assert_close(gx, gr)


def test_alibi_slopes_are_the_papers():
    assert alibi_slopes(4) == [2**-2, 2**-4, 2**-6, 2**-8]


def test_sliding_kv_cache_keeps_the_last_window_minus_one():
    cache = KVCache(1, 1, 2, window=4)
    for n in range(11):
        k = torch.full((1, 1, 1, 2), float(n))
        k_all, _ = cache.append(k, k)
        assert k_all[0, 0, :, 0].tolist() == [float(m) for m in range(max(0, n - 3), n + 1)]
    assert cache.length == 11 and cache.stored == 3 and cache.k.shape[2] == 8  # O(W) memory
    k_all, _ = cache.append(torch.zeros(1, 1, 6, 2), torch.zeros(1, 1, 6, 2))  # a chunk longer than W
    assert k_all.shape[2] == 9 and cache.stored == 3


def make(pattern, **kw):
    torch.manual_seed(0)
    return Backbone(32, 3, 4, 8, pattern=pattern, **kw).double().eval()


@pytest.mark.parametrize(
    "pattern, kw",
    [("L", {}), ("S", {"position": "alibi", "qk_norm": True}), ("S", {"position": "alibi", "window": 7}),
     ("LS", {"position": "none", "window": 6})],
)  # fmt: skip
def test_prefill_then_steps_equal_one_forward(pattern, kw):
    model = make(pattern, **kw)
    x = torch.randn(3, 23, 32, dtype=torch.float64)
    full = model(x)
    state = model.init_state(3)
    h, state = model.prefill(x[:, :9], state)
    outs = [h]
    for t in range(9, 15):
        y, state = model.step(x[:, t], state)
        outs.append(y[:, None])
    h, state = model.prefill(x[:, 15:], state)  # a second chunk after steps
    outs.append(h)
    torch.testing.assert_close(torch.cat(outs, 1), full)
    assert state.length == 23


def test_window_equals_a_forward_over_the_last_window_tokens():
    # with ALiBi a windowed model's output at the last position only depends on the last W tokens
    model = make("S", position="alibi", window=5)
    x = torch.randn(2, 17, 32, dtype=torch.float64)
    last = model(x)[:, -1]
    # in a 3-layer stack the receptive field is 3 * (W - 1) + 1 = 13 tokens
    torch.testing.assert_close(model(x[:, -13:])[:, -1], last)
    assert (model(x[:, -12:])[:, -1] - last).abs().max() > 0  # the 13th token back still counts


def test_dropout_only_in_training():
    model = make("S", position="alibi", dropout=0.5, attn_dropout=0.5)
    x = torch.randn(2, 9, 32, dtype=torch.float64)
    torch.testing.assert_close(model(x), model(x))
    model.train()
    assert not torch.allclose(model(x), model(x))


def test_defaults_are_unchanged_and_bad_options_refused():
    layer = SoftmaxAttention(16, 2, 8)
    assert layer.position == "rope" and layer.q_norm is None and layer.window is None
    with pytest.raises(ValueError, match="position must be"):
        Backbone(16, 1, 2, 8, pattern="S", position="sinusoidal")
    with pytest.raises(ValueError, match="window must be"):
        Backbone(16, 1, 2, 8, pattern="S", window=0)
    with pytest.raises(ValueError, match="dropout must be"):
        Backbone(16, 1, 2, 8, dropout=1.0)
