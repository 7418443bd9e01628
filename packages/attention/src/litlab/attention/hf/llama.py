"""litlab softmax `CausalLM` <-> transformers `LlamaForCausalLM` (Touvron et al., arXiv 2302.13971).

A litlab backbone of softmax layers only, pre-norm residual x <- x + F(RMSNorm(x)), dense SwiGLU FFN and RoPE
on all head dims is a Llama: q/k/v/o projections without bias (GQA through num_kv_heads), RMSNorm before
each sub-layer and at the end, W_down(SiLU(W_gate x) * W_up x). litlab joins k|v and gate|up into one
projection each; those are split and joined here.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from litlab.attention.layers.ffn import default_hidden
from litlab.attention.models.config import BackboneConfig

log = logging.getLogger(__name__)


def backbone_from_llama(hf) -> tuple[BackboneConfig, bool]:
    """(BackboneConfig, tie_embeddings) of a `LlamaConfig`; refuses what litlab cannot reproduce."""
    if hf.hidden_act != "silu":
        raise ValueError(f"LlamaConfig.hidden_act={hf.hidden_act!r}: litlab's SwiGLU uses SiLU (expected 'silu')")
    for name in ("attention_bias", "mlp_bias"):
        if getattr(hf, name, False):
            raise ValueError(f"LlamaConfig.{name}=True: litlab's projections have no bias")
    rope = dict(hf.rope_parameters or {})
    if rope.get("rope_type", "default") != "default" or rope.get("partial_rotary_factor", 1.0) != 1.0:
        raise ValueError(f"LlamaConfig.rope_parameters={rope}: only the default RoPE on all dims is supported")
    if getattr(hf, "attention_dropout", 0.0):
        log.warning("LlamaConfig.attention_dropout=%s is not reproduced by litlab (training-time only)",
                    hf.attention_dropout)  # fmt: skip
    cfg = BackboneConfig(
        dim=hf.hidden_size, num_layers=hf.num_hidden_layers, num_heads=hf.num_attention_heads,
        head_dim=hf.head_dim or hf.hidden_size // hf.num_attention_heads, pattern="S", ffn="swiglu",
        ffn_hidden=hf.intermediate_size, num_kv_heads=hf.num_key_value_heads,
        rope_theta=float(rope.get("rope_theta", 10000.0)), norm_eps=hf.rms_norm_eps,
    )  # fmt: skip
    return cfg, bool(hf.tie_word_embeddings)


def llama_config(cfg: BackboneConfig, vocab_size: int, tie: bool, **extra):
    """The `LlamaConfig` of a litlab softmax backbone (checked by `hf.checks` first)."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=cfg.dim, intermediate_size=cfg.ffn_hidden or default_hidden(cfg.dim),
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads, head_dim=cfg.head_dim,
        num_key_value_heads=cfg.num_kv_heads or cfg.num_heads, hidden_act="silu", rms_norm_eps=cfg.norm_eps,
        tie_word_embeddings=tie, rope_parameters={"rope_type": "default", "rope_theta": cfg.rope_theta}, **extra,
    )  # fmt: skip


def state_from_llama(sd: dict[str, Tensor], cfg: BackboneConfig, tie: bool) -> dict[str, Tensor]:
    """litlab `CausalLM` state dict of a `LlamaForCausalLM` state dict."""
    out = {"embed.weight": sd["model.embed_tokens.weight"], "backbone.norm.weight": sd["model.norm.weight"]}
    if not tie:
        out["head.weight"] = sd["lm_head.weight"]
    for i in range(cfg.num_layers):
        p, q = f"model.layers.{i}", f"backbone.blocks.{i}"
        a, f = f"{p}.self_attn", f"{p}.mlp"
        out.update({
            f"{q}.mixer_norm.weight": sd[f"{p}.input_layernorm.weight"],
            f"{q}.ffn_norm.weight": sd[f"{p}.post_attention_layernorm.weight"],
            f"{q}.mixer.q_proj.weight": sd[f"{a}.q_proj.weight"],
            f"{q}.mixer.kv_proj.weight": torch.cat([sd[f"{a}.k_proj.weight"], sd[f"{a}.v_proj.weight"]]),
            f"{q}.mixer.out_proj.weight": sd[f"{a}.o_proj.weight"],
            f"{q}.ffn.gate_up.weight": torch.cat([sd[f"{f}.gate_proj.weight"], sd[f"{f}.up_proj.weight"]]),
            f"{q}.ffn.down.weight": sd[f"{f}.down_proj.weight"],
        })  # fmt: skip
    return out


def state_to_llama(sd: dict[str, Tensor], cfg: BackboneConfig, tie: bool) -> dict[str, Tensor]:
    """`LlamaForCausalLM` state dict of a litlab `CausalLM` state dict."""
    out = {"model.embed_tokens.weight": sd["embed.weight"], "model.norm.weight": sd["backbone.norm.weight"]}
    out["lm_head.weight"] = sd["embed.weight"] if tie else sd["head.weight"]
    for i in range(cfg.num_layers):
        p, q = f"model.layers.{i}", f"backbone.blocks.{i}"
        k, v = sd[f"{q}.mixer.kv_proj.weight"].chunk(2)
        gate, up = sd[f"{q}.ffn.gate_up.weight"].chunk(2)
        out.update({
            f"{p}.input_layernorm.weight": sd[f"{q}.mixer_norm.weight"],
            f"{p}.post_attention_layernorm.weight": sd[f"{q}.ffn_norm.weight"],
            f"{p}.self_attn.q_proj.weight": sd[f"{q}.mixer.q_proj.weight"],
            f"{p}.self_attn.k_proj.weight": k, f"{p}.self_attn.v_proj.weight": v,
            f"{p}.self_attn.o_proj.weight": sd[f"{q}.mixer.out_proj.weight"],
            f"{p}.mlp.gate_proj.weight": gate, f"{p}.mlp.up_proj.weight": up,
            f"{p}.mlp.down_proj.weight": sd[f"{q}.ffn.down.weight"],
        })  # fmt: skip
    return out
