"""Layers against independent float64 references: lightning (recurrence), softmax (RoPE by complex
rotation, GQA by repetition, SSMax as scaled logits), SwiGLU and MoE (routing and aux loss by hand)."""

import math

import pytest
import torch
import torch.nn.functional as F

from litlab.attention import LightningAttention, MoE, SoftmaxAttention, SwiGLU
from litlab.attention.layers.ssmax import SSMax, ssmax_init_scale
from litlab.attention.ops import slopes


def _rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def _rope_ref(x, pos, theta=10000.0):
    """Rotate-half RoPE as a complex multiplication of channel pairs (i, i + D/2). x: [B, T, H, D]."""
    d = x.shape[-1]
    freqs = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    rot = torch.polar(torch.ones(len(pos), d // 2, dtype=torch.float64), pos[:, None].double() * freqs)
    z = torch.complex(x[..., : d // 2], x[..., d // 2 :]) * rot[None, :, None, :]
    return torch.cat([z.real, z.imag], dim=-1)


def _softmax_ref(layer, x, multiplier=None):
    """Float64 causal attention with explicit logits; multiplier [T, H] scales each query's logits."""
    b, t, _ = x.shape
    h, g, d = layer.num_heads, layer.num_kv_heads, layer.head_dim
    q = layer.q_proj(x).view(b, t, h, d)
    k, v = layer.kv_proj(x).view(b, t, 2, g, d).unbind(2)
    pos = torch.arange(t)
    q, k = _rope_ref(q, pos), _rope_ref(k, pos)
    k, v = k.repeat_interleave(h // g, dim=2), v.repeat_interleave(h // g, dim=2)
    logits = torch.einsum("bihd,bjhd->bhij", q, k) / math.sqrt(d)
    if multiplier is not None:
        logits = logits * multiplier.T[None, :, :, None]
    logits = logits.masked_fill(~torch.ones(t, t, dtype=torch.bool).tril(), float("-inf"))
    o = torch.einsum("bhij,bjhd->bihd", logits.softmax(-1), v).reshape(b, t, h * d)
    return layer.out_proj(o)


@pytest.mark.parametrize("num_kv_heads", [4, 2, 1])
def test_softmax_attention_matches_reference(num_kv_heads):
    torch.manual_seed(0)
    layer = SoftmaxAttention(24, 4, 8, num_kv_heads=num_kv_heads).double()
    x = torch.randn(2, 13, 24, dtype=torch.float64)
    assert _rel(layer(x), _softmax_ref(layer, x)) < 1e-12


def test_ssmax_learn_matches_scaled_logits_and_forced_one_is_softmax():
    torch.manual_seed(1)
    plain = SoftmaxAttention(16, 2, 8).double()
    layer = SoftmaxAttention(16, 2, 8, ssmax="learn", ssmax_train_len=64).double()
    layer.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        layer.ssmax.s.copy_(torch.tensor([0.3, 0.7], dtype=torch.float64))
    x = torch.randn(2, 11, 16, dtype=torch.float64)
    n = torch.arange(1, 12, dtype=torch.float64)
    mult = torch.log(n)[:, None] * torch.tensor([0.3, 0.7], dtype=torch.float64)
    assert _rel(layer(x), _softmax_ref(layer, x, mult)) < 1e-12
    # forcing s * ln n = 1 everywhere recovers plain softmax attention (spec tolerance 1e-6 in fp32)
    layer32, plain32 = layer.float(), plain.float()
    layer32.ssmax.multiplier = lambda num_keys: torch.ones(len(num_keys), 1)
    x32 = x.float()
    assert (layer32(x32) - plain32(x32)).abs().max().item() < 1e-6


def test_ssmax_initial_scale_values_and_posthoc_identity_inside_train_len():
    # values of s0 = 1 / mean_{n<=L} ln n listed in the attention spec (section 5.2)
    for length, want in [(1024, 0.168), (2048, 0.151), (4096, 0.137), (8192, 0.125), (32768, 0.106)]:
        assert ssmax_init_scale(length) == pytest.approx(want, abs=1e-3)
        n = torch.arange(1, length + 1, dtype=torch.float64)
        assert (torch.log(n).mean() * ssmax_init_scale(length)).item() == pytest.approx(1.0, rel=1e-9)
    post = SSMax(3, "posthoc", train_len=256)
    m = post.multiplier(torch.tensor([1, 2, 256, 512, 65536]))
    assert torch.allclose(m[:, 0], torch.tensor([1.0, 1.0, 1.0, 512**0, 1.0]).where(torch.arange(5) < 3, m[:, 0]))
    assert m[3, 0].item() == pytest.approx(math.log(512) / math.log(256), rel=1e-6)
    assert m[4, 0].item() == pytest.approx(2.0, rel=1e-6)
    assert len(list(post.parameters())) == 0 and SSMax(3, "learn", per_head=False).s.shape == (1,)
    with pytest.raises(ValueError, match="ssmax mode"):
        SSMax(2, "sometimes")


def _lightning_ref(layer, x):
    """Float64 recurrence S_t = exp(-s) S_{t-1} + k_t^T v_t, o_t = q_t S_t, then norm, gate, projection."""
    b, t, _ = x.shape
    h, d = layer.num_heads, layer.head_dim
    q, k, v = F.silu(layer.qkv_proj(x)).chunk(3, -1)
    q, k, v = (z.view(b, t, h, d) for z in (q, k, v))
    lam = torch.exp(-layer.slopes.double())[None, :, None, None]
    state, outs = torch.zeros(b, h, d, d, dtype=x.dtype), []
    for i in range(t):
        state = lam * state + k[:, i, :, :, None] * v[:, i, :, None, :]
        outs.append(torch.einsum("bhd,bhde->bhe", q[:, i], state))
    o = torch.stack(outs, 1).reshape(b, t, h * d)
    o = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + layer.norm.eps) * layer.norm.weight
    return layer.out_proj(torch.sigmoid(layer.gate_proj(x)) * o)


@pytest.mark.parametrize("decay", ["minimax", "alibi", "tnl_paper"])
def test_lightning_attention_matches_recurrence(decay):
    torch.manual_seed(2)
    layer = LightningAttention(20, 3, 12, layer_idx=1, num_layers=4, decay=decay).double()
    assert torch.equal(layer.slopes, slopes(3, 1, 4, kind=decay))
    x = torch.randn(2, 70, 20, dtype=torch.float64)
    assert _rel(layer(x), _lightning_ref(layer, x)) < 1e-10
    assert "slopes" in layer.state_dict()  # saved with checkpoints


def test_lightning_attention_learnable_decay_gets_gradient_and_errors():
    layer = LightningAttention(16, 2, 8, decay="alibi", learnable_decay=True)
    layer(torch.randn(2, 9, 16)).square().mean().backward()
    assert layer.slopes.grad is not None and torch.isfinite(layer.slopes.grad).all()
    assert layer.slopes.grad.abs().sum() > 0
    assert LightningAttention(16, 2, 8, decay="none").decay() is None
    with pytest.raises(ValueError, match="decay must be"):
        LightningAttention(16, 2, 8, decay="linear")
    with pytest.raises(ValueError, match="learnable_decay"):
        LightningAttention(16, 2, 8, decay="none", learnable_decay=True)


def test_rope_tables_rotate_like_positions_and_exactly_one_is_given():
    from litlab.attention.layers.rope import RotaryEmbedding

    rope = RotaryEmbedding(16, rotary_dim=8)
    x = torch.randn(2, 5, 3, 16, dtype=torch.float64)
    pos = torch.arange(7, 12)
    cos, sin = rope.tables(pos, torch.float64)
    assert cos.shape == sin.shape == (1, 5, 1, 4)
    ref = torch.cat([_rope_ref(x[..., :8], pos), x[..., 8:]], dim=-1)  # partial rotary: 8 of 16 channels
    assert torch.allclose(rope(x, tables=(cos, sin)), ref, atol=1e-12)
    assert torch.allclose(rope(x, pos), ref, atol=1e-12)
    for bad in ({}, {"positions": pos, "tables": (cos, sin)}):
        with pytest.raises(ValueError, match="exactly one of positions and tables"):
            rope(x, **bad)


def test_fixed_slopes_reach_the_op_as_one_tensor_until_the_buffer_changes():
    # the op checks a GPU decay's values once per tensor (a device sync); a new tensor per call re-checks
    layer = LightningAttention(16, 2, 8, layer_idx=1, num_layers=3)
    assert layer.decay() is layer.decay() is layer.slopes
    layer.to(torch.bfloat16)
    first = layer.decay()
    assert first.dtype == torch.float32 and first is layer.decay()
    assert torch.equal(first, slopes(2, 1, 3).bfloat16().float())
    layer.load_state_dict({**layer.state_dict(), "slopes": torch.tensor([0.5, 0.25])})  # in place: new version
    assert layer.decay() is not first and layer.decay().tolist() == [0.5, 0.25]
    learned = LightningAttention(16, 2, 8, learnable_decay=True)
    with torch.no_grad():
        learned.slopes[0] = -1.0
    assert learned.decay().tolist()[0] == 0.0  # clamped at 0, still differentiable above it


@pytest.mark.parametrize(
    "make",
    [
        lambda: LightningAttention(24, 2, 16),
        lambda: SoftmaxAttention(24, 4, 6, num_kv_heads=2),
        lambda: SwiGLU(24, 40),
        lambda: MoE(24, 40, num_experts=4, top_k=2),
    ],
)
def test_layer_shapes_and_gradients(make):
    torch.manual_seed(3)
    layer = make()
    x = torch.randn(3, 17, 24, requires_grad=True)
    y = layer(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y.square().mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_swiglu_formula():
    torch.manual_seed(4)
    ffn = SwiGLU(6, 5).double()
    x = torch.randn(4, 6, dtype=torch.float64)
    wg, wu = ffn.gate_up.weight[:5], ffn.gate_up.weight[5:]
    want = (F.silu(x @ wg.T) * (x @ wu.T)) @ ffn.down.weight.T
    assert _rel(ffn(x), want) < 1e-14


def test_rmsnorm_matches_torch_and_keeps_input_dtype():
    from litlab.attention.layers.norm import RMSNorm

    norm, ref = RMSNorm(12, eps=1e-6), torch.nn.RMSNorm(12, eps=1e-6)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        ref.weight.copy_(norm.weight)
    x = torch.randn(3, 5, 12)
    assert torch.allclose(norm(x), ref(x), atol=1e-6)
    want = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * norm.weight
    assert torch.allclose(norm(x), want, atol=1e-5)
    assert norm(x.bfloat16()).dtype == torch.bfloat16
