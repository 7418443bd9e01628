"""Backbone and CausalLM: incremental decoding (prefill in chunks + recurrent steps) reproduces the full
forward for lightning, softmax and hybrid stacks; greedy generation equals the argmax of the full
forward; sampling options and input errors."""

import pytest
import torch

from litlab.attention import Backbone, BackboneConfig, CausalLM
from litlab.attention.models.sampling import sample_next

PATTERNS = [("L", "swiglu"), ("S", "swiglu"), ("LLS", "moe")]


def _lm(pattern, ffn, **kw):
    torch.manual_seed(0)
    cfg = BackboneConfig(dim=32, num_layers=3, num_heads=2, head_dim=16, pattern=pattern, ffn=ffn, num_experts=3, **kw)
    return CausalLM(50, cfg).eval()


@pytest.mark.parametrize("pattern,ffn", PATTERNS)
def test_incremental_decoding_equals_full_forward(pattern, ffn):
    lm = _lm(pattern, ffn, num_kv_heads=1)
    ids = torch.randint(0, 50, (2, 23))
    with torch.no_grad():
        full = lm(ids)
        state = lm.backbone.init_state(2)
        h1, state = lm.backbone.prefill(lm.embed(ids[:, :6]), state)
        h2, state = lm.backbone.prefill(lm.embed(ids[:, 6:15]), state)  # continue a prefill mid-sequence
        steps = []
        for t in range(15, 23):
            h, state = lm.backbone.step(lm.embed(ids[:, t]), state)
            steps.append(h[:, None])
        inc = lm.logits(torch.cat([h1, h2, *steps], dim=1))
    assert state.length == 23
    assert (inc - full).abs().max().item() < 1e-4 * full.abs().max().item()


def test_ssmax_model_decodes_like_full_forward():
    lm = _lm("S", "swiglu", ssmax="learn", ssmax_train_len=16)
    ids = torch.randint(0, 50, (1, 20))
    with torch.no_grad():
        full = lm(ids)
        state = lm.backbone.init_state(1)
        h, state = lm.backbone.prefill(lm.embed(ids[:, :7]), state)
        hs = [h] + [lm.backbone.step(lm.embed(ids[:, t]), state)[0][:, None] for t in range(7, 20)]
    assert (lm.logits(torch.cat(hs, 1)) - full).abs().max().item() < 1e-4


@pytest.mark.parametrize("pattern,ffn", PATTERNS)
def test_greedy_generation_is_argmax_of_full_forward(pattern, ffn):
    lm = _lm(pattern, ffn)
    prompt = torch.randint(0, 50, (3, 5))
    out = lm.generate(prompt, max_new_tokens=12)
    assert out.shape == (3, 17) and torch.equal(out[:, :5], prompt)
    with torch.no_grad():
        pred = lm(out[:, :-1]).argmax(-1)
    assert torch.equal(pred[:, 4:], out[:, 5:])


def test_generation_stops_at_eos_and_pads():
    lm = _lm("L", "swiglu")
    prompt = torch.randint(0, 50, (2, 4))
    free = lm.generate(prompt, 10)
    eos = int(free[0, 4])  # row 0's first new token; the free run goes on with other tokens after it
    want = free.clone()
    for row in want:  # after its first eos a row is padded with eos; the other row goes on as before
        hits = (row[4:] == eos).nonzero()
        if len(hits):
            row[4 + int(hits[0]) :] = eos
    assert not torch.equal(want, free)  # else ignoring eos_token_id would pass too
    assert torch.equal(lm.generate(prompt, 10, eos_token_id=eos), want)
    assert torch.equal(lm.generate(prompt[:1], 10, eos_token_id=eos), want[:1, :5])  # all done: stops early
    assert lm.generate(prompt, 0).shape == (2, 4)


def test_sampling_respects_top_k_and_top_p():
    logits = torch.tensor([[3.0, 2.9, 0.0, -1.0, 1.0]]).repeat(400, 1)
    gen = torch.Generator().manual_seed(0)
    top2 = sample_next(logits, 1.0, top_k=2, generator=gen)
    assert set(top2.tolist()) == {0, 1}
    # probabilities ~ (0.47, 0.43, 0.02, 0.01, 0.06): top_p = 0.5 keeps tokens 0 and 1
    nucleus = sample_next(logits, 1.0, top_p=0.5, generator=gen)
    assert set(nucleus.tolist()) == {0, 1}
    assert set(sample_next(logits, 1.0, top_p=0.1, generator=gen).tolist()) == {0}
    assert torch.equal(sample_next(logits, 0.0), torch.zeros(400, dtype=torch.long))


def test_backbone_public_constructor_and_step_api():
    bb = Backbone(16, 2, 2, 8, "LS", ffn="moe", num_experts=2, top_k=1)
    assert bb.layer_types == "LS" and bb.aux_loss().item() == 0.0
    x = torch.randn(4, 9, 16)
    assert bb(x).shape == (4, 9, 16) and bb.aux_loss().item() > 0
    state = bb.init_state(4)
    h, state = bb.step(torch.randn(4, 16), state)
    assert h.shape == (4, 16) and state.layers[0].shape == (4, 2, 8, 8) and state.layers[0].dtype == torch.float32
    assert Backbone(8, 8, 1, 8, "LLLLLLLS").layer_types == "LLLLLLLS"
    assert Backbone(8, 5, 1, 8, "LS").layer_types == "LSLSL"


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"pattern": "LXS"}, "pattern"),
        ({"pattern": ""}, "pattern"),
        ({"ffn": "mlp"}, "ffn"),
        ({"num_kv_heads": 3}, "num_kv_heads"),
        ({"dim": 0}, "dim"),
        ({"top_k": 9}, "top_k"),
    ],
)
def test_bad_backbone_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BackboneConfig(**{"dim": 8, "num_heads": 2, "head_dim": 4, **kwargs})


def test_bad_inputs():
    lm = _lm("L", "swiglu")
    with pytest.raises(ValueError, match=r"input_ids must be in \[0, 50\)"):
        lm(torch.tensor([[1, 50]]))
    with pytest.raises(ValueError, match="input_ids must be an int64"):
        lm(torch.ones(2, 3))
    with pytest.raises(ValueError, match="temperature"):
        lm.generate(torch.tensor([[1]]), 2, temperature=-1.0)
    with pytest.raises(ValueError, match="top_p"):
        lm.generate(torch.tensor([[1]]), 2, temperature=1.0, top_p=1.5)
    with pytest.raises(ValueError, match="expected"):
        lm.backbone(torch.randn(2, 3, 7))


def test_backbone_signature_mirrors_config_fields():
    import dataclasses
    import inspect

    params = list(inspect.signature(Backbone.__init__).parameters.values())[1:]
    fields = dataclasses.fields(BackboneConfig)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params[4:], fields[4:]):
        assert p.default == f.default, p.name


def test_reset_state_restarts_only_the_done_sequences():
    torch.manual_seed(0)
    bb = Backbone(16, 2, 2, 8, "L").eval()
    x = torch.randn(3, 5, 16)
    with torch.no_grad():
        state = bb.init_state(3)
        for t in range(3):
            _, state = bb.step(x[:, t], state)
        state = bb.reset_state(state, torch.tensor([False, True, False]))
        h, _ = bb.step(x[:, 3], state)
        fresh, _ = bb.step(x[1:2, 3], bb.init_state(1))
        cont = bb.prefill(x[:, :4], bb.init_state(3))[0][:, -1]
    assert torch.allclose(h[1], fresh[0], atol=1e-6) and torch.allclose(h[[0, 2]], cont[[0, 2]], atol=1e-5)
    with pytest.raises(ValueError, match="pure lightning"):
        hybrid = Backbone(16, 2, 2, 8, "LS")
        hybrid.reset_state(hybrid.init_state(2), torch.tensor([True, False]))
