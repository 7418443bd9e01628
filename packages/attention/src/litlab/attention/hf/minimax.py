"""litlab `CausalLM` <-> transformers `MiniMaxForCausalLM` (MiniMax-01, arXiv 2501.08313).

The two compute the same function when litlab uses the MiniMax post-norm residual: per sub-layer F,
h = RMSNorm(x), x <- alpha*h + beta*F(h); lightning layers SiLU(W_qkv x) -> linear attention with slopes
s_h = (2^(-8/H))^(h+1) * (1 - l/(L-1+1e-5) + 1e-5) and no 1/sqrt(d) -> RMSNorm over H*d (eps 1e-6) ->
sigmoid(W_gate x) * o -> W_out; softmax layers GQA with RoPE on all head dims; FFNs a top-k mixture of
SwiGLU experts (softmax router in fp32, top-k weights renormalised). A dense litlab SwiGLU is the
one-expert, top-1 MoE (its router weight is exactly 1).

Layout differences handled here: transformers' W_qkv rows are (head, q|k|v, d), litlab's (q|k|v, head, d);
its experts are [E, 2I, C] / [E, C, I] (x W^T), litlab's [E, C, I] / [E, I, C] (x W); litlab joins k and v
of softmax layers into one projection. The slopes travel as buffers in both directions (transformers loads
`slope_rate` and its decay tables from the checkpoint), so litlab's exact slopes reach transformers.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import torch
from torch import Tensor

from litlab.attention.layers.ffn import default_hidden
from litlab.attention.models.config import BackboneConfig

log = logging.getLogger(__name__)

LIGHTNING_NORM_EPS = 1e-6  # transformers builds the lightning layers' RMSNorm with its default epsilon
_TYPES = {"L": "linear_attention", "S": "full_attention"}
_FACTORS = ("linear_attn", "full_attn", "mlp")


def minimax_slopes(num_heads: int, layer_idx: int, num_layers: int) -> Tensor:
    """transformers' slopes [H] in fp32: (2^(-8/H))^(h+1) * (1 - l/(L-1+1e-5) + 1e-5), computed as it does."""
    base = 1 / (2 ** (8 / num_heads))
    factor = 1 - layer_idx / (num_layers - 1 + 1e-5) + 1e-5
    return (base ** (torch.arange(num_heads) + 1)) * factor


def decay_tables(slope_rate: Tensor, block_size: int) -> tuple[Tensor, Tensor, Tensor]:
    """transformers' query / key / diagonal decay buffers of slopes [H, 1, 1] (its own formula)."""
    from transformers.models.minimax.modeling_minimax import MiniMaxLightningAttention

    return MiniMaxLightningAttention.decay_factors(SimpleNamespace(block_size=block_size), slope_rate)


# ---- configs ---------------------------------------------------------------------------------------------
def backbone_from_minimax(hf) -> tuple[BackboneConfig, bool]:
    """(BackboneConfig, tie_embeddings) of a `MiniMaxConfig`; refuses what litlab cannot reproduce."""
    if hf.hidden_act != "silu":
        raise ValueError(f"MiniMaxConfig.hidden_act={hf.hidden_act!r}: litlab's experts use SiLU (expected 'silu')")
    if hf.sliding_window is not None:
        raise ValueError(f"MiniMaxConfig.sliding_window={hf.sliding_window}: litlab imports full causal attention only")
    rope = dict(hf.rope_parameters or {})
    if rope.get("rope_type", "default") != "default" or rope.get("partial_rotary_factor", 1.0) != 1.0:
        raise ValueError(f"MiniMaxConfig.rope_parameters={rope}: only the default RoPE on all dims is supported")
    alpha = {getattr(hf, f"{p}_alpha_factor") for p in _FACTORS}
    beta = {getattr(hf, f"{p}_beta_factor") for p in _FACTORS}
    if len(alpha) > 1 or len(beta) > 1:
        raise ValueError(f"MiniMaxConfig residual factors differ between sub-layers (alpha {sorted(alpha)}, beta "
                         f"{sorted(beta)}): litlab's Backbone has one residual_alpha and one "
                         "residual_beta")  # fmt: skip
    for name in ("router_jitter_noise", "attention_dropout"):
        if getattr(hf, name, 0.0):
            log.warning("MiniMaxConfig.%s=%s is not reproduced by litlab (training-time only)", name, getattr(hf, name))
    types = {v: k for k, v in _TYPES.items()}
    unknown = sorted(set(hf.layer_types) - set(types))
    if unknown:
        raise ValueError(f"MiniMaxConfig.layer_types has {unknown}; expected 'linear_attention'/'full_attention'")
    dense = hf.num_local_experts == 1 and hf.num_experts_per_tok == 1
    cfg = BackboneConfig(
        dim=hf.hidden_size, num_layers=hf.num_hidden_layers, num_heads=hf.num_attention_heads,
        head_dim=hf.head_dim or hf.hidden_size // hf.num_attention_heads,
        pattern="".join(types[t] for t in hf.layer_types), ffn="swiglu" if dense else "moe",
        ffn_hidden=hf.intermediate_size, num_experts=hf.num_local_experts, top_k=hf.num_experts_per_tok,
        num_kv_heads=hf.num_key_value_heads, rope_theta=float(rope.get("rope_theta", getattr(hf, "rope_theta", 1e6))),
        decay="minimax", norm_eps=hf.rms_norm_eps, attn_norm_eps=LIGHTNING_NORM_EPS, residual="minimax_postnorm",
        residual_alpha=float(alpha.pop()), residual_beta=float(beta.pop()),
    )  # fmt: skip
    return cfg, bool(hf.tie_word_embeddings)


def minimax_config(cfg: BackboneConfig, vocab_size: int, tie: bool, **extra):
    """The `MiniMaxConfig` of a litlab backbone (checked by `hf.checks` first)."""
    from transformers import MiniMaxConfig

    factors = {f"{p}_{k}_factor": v for p in _FACTORS for k, v in (("alpha", cfg.residual_alpha),
                                                                   ("beta", cfg.residual_beta))}  # fmt: skip
    return MiniMaxConfig(
        vocab_size=vocab_size, hidden_size=cfg.dim, intermediate_size=cfg.ffn_hidden or default_hidden(cfg.dim),
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads, head_dim=cfg.head_dim,
        num_key_value_heads=cfg.num_kv_heads or cfg.num_heads, hidden_act="silu", rms_norm_eps=cfg.norm_eps,
        tie_word_embeddings=tie, layer_types=[_TYPES[t] for t in cfg.layer_types()],
        num_local_experts=cfg.num_experts if cfg.ffn == "moe" else 1,
        num_experts_per_tok=cfg.top_k if cfg.ffn == "moe" else 1,
        rope_parameters={"rope_type": "default", "rope_theta": cfg.rope_theta}, **factors, **extra,
    )  # fmt: skip


# ---- weights ---------------------------------------------------------------------------------------------
def _experts(p: str, sd: dict, num_experts: int) -> tuple[Tensor, Tensor, Tensor]:
    """(router [E, C], gate_up [E, 2I, C], down [E, C, I]) in transformers' fused layout, also from the older
    per-expert Mixtral layout (block_sparse_moe.experts.e.w1 / w3 / w2) of earlier transformers versions."""
    if f"{p}.mlp.experts.gate_up_proj" in sd:
        return sd[f"{p}.mlp.gate.weight"], sd[f"{p}.mlp.experts.gate_up_proj"], sd[f"{p}.mlp.experts.down_proj"]
    e = f"{p}.block_sparse_moe.experts"
    gate_up = torch.stack([torch.cat([sd[f"{e}.{i}.w1.weight"], sd[f"{e}.{i}.w3.weight"]]) for i in range(num_experts)])
    down = torch.stack([sd[f"{e}.{i}.w2.weight"] for i in range(num_experts)])
    return sd[f"{p}.block_sparse_moe.gate.weight"], gate_up, down


def _ffn_from_hf(p: str, q: str, sd: dict, cfg: BackboneConfig, out: dict) -> None:
    router, gate_up, down = _experts(p, sd, cfg.num_experts)  # [E, C], [E, 2I, C], [E, C, I]
    if cfg.ffn == "swiglu":
        out[f"{q}.ffn.gate_up.weight"], out[f"{q}.ffn.down.weight"] = gate_up[0], down[0]
        return
    i = gate_up.shape[1] // 2
    out[f"{q}.ffn.router.weight"] = router
    out[f"{q}.ffn.w_gate"] = gate_up[:, :i].transpose(1, 2)
    out[f"{q}.ffn.w_up"] = gate_up[:, i:].transpose(1, 2)
    out[f"{q}.ffn.w_down"] = down.transpose(1, 2)


def _ffn_to_hf(p: str, q: str, sd: dict, cfg: BackboneConfig, out: dict) -> None:
    if cfg.ffn == "swiglu":
        w = sd[f"{q}.ffn.gate_up.weight"]
        out[f"{p}.mlp.gate.weight"] = w.new_zeros(1, w.shape[1])  # softmax over one expert: weight 1
        out[f"{p}.mlp.experts.gate_up_proj"] = w[None]
        out[f"{p}.mlp.experts.down_proj"] = sd[f"{q}.ffn.down.weight"][None]
        return
    out[f"{p}.mlp.gate.weight"] = sd[f"{q}.ffn.router.weight"]
    out[f"{p}.mlp.experts.gate_up_proj"] = torch.cat([sd[f"{q}.ffn.w_gate"], sd[f"{q}.ffn.w_up"]], 2).transpose(1, 2)
    out[f"{p}.mlp.experts.down_proj"] = sd[f"{q}.ffn.w_down"].transpose(1, 2)


def _qkv_perm(w: Tensor, heads: int, to_litlab: bool) -> Tensor:
    """Reorder W_qkv rows between (head, q|k|v, d) (transformers) and (q|k|v, head, d) (litlab)."""
    c = w.shape[1]
    shape = (heads, 3, -1, c) if to_litlab else (3, heads, -1, c)
    return w.reshape(shape).transpose(0, 1).reshape(-1, c)


def _renames(cfg: BackboneConfig) -> list[tuple[str, str]]:
    """(transformers name, litlab name) of the tensors that map one to one, unchanged, in both directions."""
    pairs = [("model.embed_tokens.weight", "embed.weight"), ("model.norm.weight", "backbone.norm.weight")]
    for i, kind in enumerate(cfg.layer_types()):
        p, q = f"model.layers.{i}", f"backbone.blocks.{i}"
        a, m = f"{p}.self_attn", f"{q}.mixer"
        pairs += [(f"{p}.input_layernorm.weight", f"{q}.mixer_norm.weight"),
                  (f"{p}.post_attention_layernorm.weight", f"{q}.ffn_norm.weight")]  # fmt: skip
        if kind == "L":
            pairs += [(f"{a}.output_gate.weight", f"{m}.gate_proj.weight"), (f"{a}.norm.weight", f"{m}.norm.weight"),
                      (f"{a}.out_proj.weight", f"{m}.out_proj.weight")]  # fmt: skip
        else:
            pairs += [(f"{a}.q_proj.weight", f"{m}.q_proj.weight"), (f"{a}.o_proj.weight", f"{m}.out_proj.weight")]
    return pairs


def state_from_minimax(sd: dict[str, Tensor], cfg: BackboneConfig, tie: bool) -> dict[str, Tensor]:
    """litlab `CausalLM` state dict of a `MiniMaxForCausalLM` state dict."""
    out = {lit: sd[hf] for hf, lit in _renames(cfg)}
    if not tie:
        out["head.weight"] = sd["lm_head.weight"]
    for i, kind in enumerate(cfg.layer_types()):
        p, q = f"model.layers.{i}", f"backbone.blocks.{i}"
        a, m = f"{p}.self_attn", f"{q}.mixer"
        if kind == "L":
            out[f"{m}.qkv_proj.weight"] = _qkv_perm(sd[f"{a}.qkv_proj.weight"], cfg.num_heads, to_litlab=True)
            slopes = sd.get(f"{a}.slope_rate")
            slopes = minimax_slopes(cfg.num_heads, i, cfg.num_layers) if slopes is None else slopes.flatten()
            out[f"{m}.slopes"] = slopes.float()
        else:
            out[f"{m}.kv_proj.weight"] = torch.cat([sd[f"{a}.k_proj.weight"], sd[f"{a}.v_proj.weight"]])
        _ffn_from_hf(p, q, sd, cfg, out)
    return out


def state_to_minimax(sd: dict[str, Tensor], cfg: BackboneConfig, tie: bool, block_size: int) -> dict[str, Tensor]:
    """`MiniMaxForCausalLM` state dict (transformers' in-memory names) of a litlab `CausalLM` state dict."""
    out = {hf: sd[lit] for hf, lit in _renames(cfg)}
    out["lm_head.weight"] = sd["embed.weight"] if tie else sd["head.weight"]
    for i, kind in enumerate(cfg.layer_types()):
        p, q = f"model.layers.{i}", f"backbone.blocks.{i}"
        a, m = f"{p}.self_attn", f"{q}.mixer"
        if kind == "L":
            out[f"{a}.qkv_proj.weight"] = _qkv_perm(sd[f"{m}.qkv_proj.weight"], cfg.num_heads, to_litlab=False)
            rate = sd[f"{m}.slopes"].float()[:, None, None]
            qd, kd, dd = decay_tables(rate, block_size)
            out.update({f"{a}.slope_rate": rate, f"{a}.query_decay": qd, f"{a}.key_decay": kd,
                        f"{a}.diagonal_decay": dd})  # fmt: skip
        else:
            out[f"{a}.k_proj.weight"], out[f"{a}.v_proj.weight"] = sd[f"{m}.kv_proj.weight"].chunk(2)
        _ffn_to_hf(p, q, sd, cfg, out)
    return out
