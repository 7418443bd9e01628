"""Which transformers class a litlab `CausalLM` is, and the refusals when it is none of them.

Export must never write a silently different model: every `BackboneConfig` field is either mapped to the
transformers config, checked against what transformers computes, or required to keep its default value
(options added to litlab later are refused by name until a mapping exists).
"""

from __future__ import annotations

from dataclasses import MISSING, fields

import torch

from litlab.attention.hf.minimax import LIGHTNING_NORM_EPS, minimax_slopes
from litlab.attention.models.config import BackboneConfig

ARCHS = ("minimax", "llama")
# fields the converters map (or that only matter when another mapped field selects them)
_MAPPED = {"dim", "num_layers", "num_heads", "head_dim", "pattern", "ffn", "ffn_hidden", "num_experts", "top_k",
           "num_kv_heads", "rope_theta", "norm_eps", "ssmax_train_len", "decay", "learnable_decay", "ssmax",
           "attn_norm_eps", "rotary_dim", "residual", "residual_alpha", "residual_beta"}  # fmt: skip


def _default(f):
    return f.default_factory() if f.default is MISSING else f.default


def _refuse(arch: str, what: str, why: str) -> None:
    cls = "MiniMaxForCausalLM" if arch == "minimax" else "LlamaForCausalLM"
    raise ValueError(f"cannot export to transformers {cls}: {what} {why}")


def choose_arch(cfg: BackboneConfig) -> str:
    """'llama' for pre-norm softmax-only dense models, else 'minimax'."""
    plain = cfg.residual == "prenorm" and cfg.residual_alpha == 1.0 and cfg.residual_beta == 1.0
    return "llama" if set(cfg.layer_types()) == {"S"} and cfg.ffn == "swiglu" and plain else "minimax"


def check_exportable(model, arch: str) -> None:
    """Raise a ValueError naming the first litlab option that `arch` cannot reproduce exactly."""
    cfg: BackboneConfig = model.backbone.config
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if f.name not in _MAPPED and value != _default(f):
            _refuse(arch, f"BackboneConfig.{f.name}={value!r}", "has no transformers equivalent (keep the default)")
    if cfg.ssmax != "off":
        _refuse(arch, f"ssmax={cfg.ssmax!r}", "(Scalable-Softmax) has no transformers equivalent")
    if cfg.rotary_dim not in (None, cfg.head_dim):
        _refuse(arch, f"rotary_dim={cfg.rotary_dim}", f"(partial RoPE) is not supported; transformers rotates all "
                f"head_dim={cfg.head_dim} dims")  # fmt: skip
    if arch == "llama":
        _check_llama(cfg)
    else:
        _check_minimax(model, cfg)


def _check_llama(cfg: BackboneConfig) -> None:
    if set(cfg.layer_types()) != {"S"}:
        _refuse("llama", f"pattern={cfg.pattern!r}", "has lightning layers (use arch='minimax')")
    if cfg.ffn != "swiglu":
        _refuse("llama", "ffn='moe'", "(Llama is dense; use arch='minimax')")
    if (cfg.residual, cfg.residual_alpha, cfg.residual_beta) != ("prenorm", 1.0, 1.0):
        _refuse("llama", f"residual={cfg.residual!r} (alpha {cfg.residual_alpha}, beta {cfg.residual_beta})",
                "differs from Llama's x + F(RMSNorm(x))")  # fmt: skip


def _check_minimax(model, cfg: BackboneConfig) -> None:
    if cfg.residual != "minimax_postnorm":
        _refuse("minimax", f"residual={cfg.residual!r}", "differs from MiniMax's h = RMSNorm(x), x <- alpha*h + "
                "beta*F(h); train with residual='minimax_postnorm' (or a pure softmax dense model for Llama)")
    if "L" not in cfg.layer_types():
        return
    if cfg.learnable_decay:
        _refuse("minimax", "learnable_decay=True", "(trained slopes) has no transformers equivalent: MiniMax's "
                "slopes are fixed by its formula")  # fmt: skip
    if cfg.decay != "minimax":
        _refuse("minimax", f"decay={cfg.decay!r}", "differs from MiniMax's slope formula (use decay='minimax')")
    eps = cfg.norm_eps if cfg.attn_norm_eps is None else cfg.attn_norm_eps
    if eps != LIGHTNING_NORM_EPS:
        _refuse("minimax", f"lightning norm epsilon {eps} (attn_norm_eps / norm_eps)",
                f"differs from transformers' fixed {LIGHTNING_NORM_EPS}")  # fmt: skip
    for i, block in enumerate(model.backbone.blocks):
        if cfg.layer_types()[i] != "L":
            continue
        ours, theirs = block.mixer.slopes.detach().float().cpu(), minimax_slopes(cfg.num_heads, i, cfg.num_layers)
        # the exact slopes are exported as buffers; this checks that the config means MiniMax's formula (litlab's
        # 1 - l/(L-1) + 1e-5 and transformers' 1 - l/(L-1+1e-5) + 1e-5 differ by < 1e-5 absolute)
        if not torch.allclose(ours, theirs, rtol=1e-3, atol=1e-5):
            _refuse("minimax", f"the slopes of layer {i} ({ours.tolist()})", f"differ from MiniMax's formula "
                    f"({theirs.tolist()}; num_heads={cfg.num_heads} is not a power of two?)")  # fmt: skip
