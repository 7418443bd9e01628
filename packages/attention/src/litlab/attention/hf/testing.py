"""Tiny random transformers MiniMax / Llama configs and a float64 mode for them (used by the HF tests).

transformers rounds four things to fp32 even in a float64 model: every RMSNorm (`.to(torch.float32)`), the
RoPE tables (fp32 inverse frequencies and angles), the MoE router softmax (`router_logits.float()`) and
MiniMax's lightning decay tables (computed in fp32 at construction). `float64_islands` lifts exactly those
roundings, with the same formulas, so that a float64 comparison measures the conversion and not them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def minimax_config(**overrides):
    from transformers import MiniMaxConfig

    kw = dict(
        vocab_size=97, hidden_size=32, intermediate_size=24, num_hidden_layers=5, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, num_local_experts=3, num_experts_per_tok=2, block_size=16,
        layer_types=["linear_attention", "full_attention", "linear_attention", "linear_attention", "full_attention"],
        tie_word_embeddings=False, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        bos_token_id=None, eos_token_id=None, pad_token_id=None, experts_implementation="eager",  # grouped_mm: no float64
        **{f"{p}_{k}_factor": v for p in ("linear_attn", "full_attn", "mlp") for k, v in (("alpha", 1.7), ("beta", 0.8))},
    )  # fmt: skip
    kw.update(overrides)
    return MiniMaxConfig(**kw)


def llama_config(**overrides):
    from transformers import LlamaConfig

    kw = dict(vocab_size=89, hidden_size=32, intermediate_size=40, num_hidden_layers=3, num_attention_heads=4,
              num_key_value_heads=2, head_dim=8, tie_word_embeddings=False, rms_norm_eps=1e-5,
              bos_token_id=None, eos_token_id=None, pad_token_id=None)  # fmt: skip
    kw.update(overrides)
    return LlamaConfig(**kw)


def randomize(model, seed: int = 0, std: float = 0.2):
    """Weights far from their init (norm gains around 1, routers that route), so a mapping error shows."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype)
            p.copy_(1.0 + 0.1 * noise if name.endswith("norm.weight") else std * noise)
    return model.eval()


def _rms64(self, x):
    var = x.pow(2).mean(-1, keepdim=True)
    return self.weight * (x * torch.rsqrt(var + self.variance_epsilon))


def _rope64(self, x, position_ids):
    dim = self.inv_freq.shape[0] * 2
    base = self.config.rope_parameters["rope_theta"]
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64, device=x.device) / dim))
    freqs = position_ids[..., None].to(torch.float64) * inv
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(x.dtype), emb.sin().to(x.dtype)


def _router64(self, hidden_states):
    hidden_states = hidden_states.reshape(-1, self.hidden_dim)
    logits = F.linear(hidden_states, self.weight)
    top, idx = torch.topk(torch.softmax(logits, dim=-1), self.top_k, dim=-1)
    return logits, top / top.sum(dim=-1, keepdim=True), idx


def float64_islands(monkeypatch, model) -> None:
    """Patch transformers' fp32 islands (see the module docstring) through pytest's `monkeypatch` (undone at the
    test's end) and recompute `model`'s decay tables in float64."""
    from transformers.models.llama import modeling_llama as llama
    from transformers.models.minimax import modeling_minimax as mm

    for mod, norm, rope in ((mm, "MiniMaxRMSNorm", "MiniMaxRotaryEmbedding"), (llama, "LlamaRMSNorm",
                                                                              "LlamaRotaryEmbedding")):  # fmt: skip
        monkeypatch.setattr(getattr(mod, norm), "forward", _rms64)
        monkeypatch.setattr(getattr(mod, rope), "forward", _rope64)
    monkeypatch.setattr(mm.MiniMaxTopKRouter, "forward", _router64)
    for module in model.modules():
        if isinstance(module, mm.MiniMaxLightningAttention):
            qd, kd, dd = module.decay_factors(module.slope_rate.to(torch.float64))
            module.query_decay, module.key_decay, module.diagonal_decay = qd, kd, dd


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b||_F / ||b||_F (inf when a has non-finite entries)."""
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm()) if torch.isfinite(a).all() else float("inf")
