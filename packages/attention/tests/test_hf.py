"""litlab <-> transformers MiniMax / Llama: the same logits and greedy tokens, both directions, offline folders.

Tolerances (relative Frobenius error of the logits): float64 with transformers' fp32 islands lifted
(`hf.testing.float64_islands`) <= 1e-12; float64 as transformers computes it <= 1e-5 (its fp32 RMSNorm, RoPE
tables and router); fp32 <= 1e-5 (measured 2e-7 to 1e-6). T = 37 is not a multiple of MiniMax's block (16).
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM, MiniMaxForCausalLM  # noqa: E402

from litlab.attention import BackboneConfig, CausalLM  # noqa: E402
from litlab.attention.data.tokenizer import train_bpe  # noqa: E402
from litlab.attention.hf import from_hf, to_hf, to_hf_model  # noqa: E402
from litlab.attention.hf.testing import float64_islands, llama_config, minimax_config, randomize, rel  # noqa: E402

T = 37


def _hf(kind: str, **kw):
    if kind == "minimax":
        return randomize(MiniMaxForCausalLM(minimax_config(**kw)))
    return randomize(LlamaForCausalLM(llama_config(**kw)))


def _ids(vocab: int, b: int = 2, t: int = T, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, vocab, (b, t), generator=torch.Generator().manual_seed(seed))


def _logits(hf, ours, ids):
    with torch.no_grad():
        return hf(ids).logits, ours(ids)


@pytest.mark.parametrize("kind", ["minimax", "llama"])
def test_from_hf_float64_exact(kind, monkeypatch):
    hf = _hf(kind).double()
    ours = from_hf(hf, dtype=torch.float64).eval()
    ids = _ids(hf.config.vocab_size)
    theirs, mine = _logits(hf, ours, ids)
    assert rel(mine, theirs) <= 1e-5  # transformers' own float64 (fp32 norms, RoPE, router)
    float64_islands(monkeypatch, hf)
    theirs, mine = _logits(hf, ours, ids)
    assert rel(mine, theirs) <= 1e-12, rel(mine, theirs)


@pytest.mark.parametrize("kind", ["minimax", "llama"])
def test_from_hf_fp32(kind):
    hf = _hf(kind)
    ours = from_hf(hf).eval()
    theirs, mine = _logits(hf, ours, _ids(hf.config.vocab_size))
    assert rel(mine, theirs) <= 1e-5


def test_minimax_variants_map():
    """Tied head, one dense expert (litlab SwiGLU), MHA and alpha = beta = 1 also map exactly."""
    hf = _hf("minimax", tie_word_embeddings=True, num_local_experts=1, num_experts_per_tok=1, num_key_value_heads=4,
             **{f"{p}_{k}_factor": 1.0 for p in ("linear_attn", "full_attn", "mlp") for k in ("alpha", "beta")})
    ours = from_hf(hf).eval()
    assert ours.tie_embeddings and ours.backbone.config.ffn == "swiglu"
    theirs, mine = _logits(hf, ours, _ids(hf.config.vocab_size))
    assert rel(mine, theirs) <= 1e-5


@pytest.mark.parametrize("kind", ["minimax", "llama"])
def test_greedy_generation_token_for_token(kind, monkeypatch):
    hf = _hf(kind).double()
    float64_islands(monkeypatch, hf)
    ours = from_hf(hf, dtype=torch.float64).eval()
    prompt = _ids(hf.config.vocab_size, b=1, t=21, seed=3)
    theirs = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=24, do_sample=False,
                         min_new_tokens=24, pad_token_id=0)  # fmt: skip
    mine = ours.generate(prompt, max_new_tokens=24)
    assert torch.equal(mine, theirs), (mine[0, 21:].tolist(), theirs[0, 21:].tolist())


def _litlab(arch: str, seed: int = 0, **kw) -> CausalLM:
    torch.manual_seed(seed)
    if arch == "minimax":
        cfg = dict(dim=32, num_layers=4, num_heads=4, head_dim=8, pattern="LLSL", ffn="moe", ffn_hidden=24,
                   num_experts=4, top_k=2, num_kv_heads=2, residual="minimax_postnorm", residual_alpha=1.5,
                   residual_beta=0.7, norm_eps=1e-5, attn_norm_eps=1e-6)  # fmt: skip
    else:
        cfg = dict(dim=32, num_layers=3, num_heads=4, head_dim=8, pattern="S", ffn_hidden=40, num_kv_heads=1)
    cfg.update(kw)
    model = CausalLM(83, BackboneConfig(**cfg), tie_embeddings=arch == "minimax")
    return randomize(model, seed)


@pytest.mark.parametrize("arch", ["minimax", "llama"])
def test_to_hf_same_logits(arch, monkeypatch):
    ours = _litlab(arch).double()
    hf = to_hf_model(ours)
    assert type(hf).__name__ == ("MiniMaxForCausalLM" if arch == "minimax" else "LlamaForCausalLM")
    float64_islands(monkeypatch, hf)
    theirs, mine = _logits(hf, ours, _ids(83))
    assert rel(mine, theirs) <= 1e-12, rel(mine, theirs)


def test_to_hf_state_dict_loads_strictly():
    config, state = to_hf(_litlab("minimax"))
    hf = MiniMaxForCausalLM(config)
    hf.load_state_dict(state, strict=True)


def _tokenizer(vocab: int = 300):
    texts = ["def add(a, b):\n    return a + b\n", "the quick brown fox jumps over the lazy dog\n"] * 20
    return train_bpe(texts, vocab)


@pytest.mark.parametrize("arch", ["minimax", "llama"])
def test_save_pretrained_folder_round_trip(arch, tmp_path):
    ours = _litlab(arch)
    ours = randomize(CausalLM(320, ours.backbone.config, ours.tie_embeddings), 4)
    ours.save_pretrained(tmp_path, tokenizer=_tokenizer())
    names = {p.name for p in tmp_path.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json"} <= names
    hf = AutoModelForCausalLM.from_pretrained(tmp_path, local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    ids = torch.tensor([tok("def add(a, b):")["input_ids"]])
    assert tok.eos_token == "<|endoftext|>" and hf.generation_config.eos_token_id == tok.eos_token_id
    theirs, mine = _logits(hf, ours.eval(), ids)
    assert rel(mine, theirs) <= 1e-5
    back = from_hf(tmp_path)
    for name, value in ours.state_dict().items():
        assert torch.equal(back.state_dict()[name], value), name


@pytest.mark.parametrize(
    "arch, kw, needle",
    [
        ("minimax", {"ssmax": "learn", "pattern": "LS"}, "ssmax='learn'"),
        ("minimax", {"learnable_decay": True}, "learnable_decay=True"),
        ("minimax", {"residual": "prenorm"}, "residual='prenorm'"),
        ("minimax", {"decay": "alibi"}, "decay='alibi'"),
        ("minimax", {"attn_norm_eps": None}, "lightning norm epsilon 1e-05"),
        ("minimax", {"num_heads": 6}, "slopes of layer 0"),
        ("llama", {"rotary_dim": 4}, "rotary_dim=4"),
        ("llama", {"residual_alpha": 2.0}, "residual='prenorm' (alpha 2.0"),
    ],
)
def test_export_refuses_options_without_equivalent(arch, kw, needle):
    model = _litlab(arch, **kw)
    with pytest.raises(ValueError) as err:
        to_hf(model, arch=arch)
    assert needle in str(err.value)


def test_from_hf_refuses_what_litlab_cannot_run(tmp_path):
    hf = _hf("minimax", linear_attn_alpha_factor=2.0)
    with pytest.raises(ValueError, match="residual factors differ"):
        from_hf(hf)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        from_hf(tmp_path)
