"""The public sequence model: a stack of residual blocks of lightning/softmax attention.

Block (pre-norm, arXiv 2002.04745): x <- x + Mixer(RMSNorm(x)); x <- x + FFN(RMSNorm(x)); a final
RMSNorm gives the hidden states. Mixers follow the layer pattern of `BackboneConfig`
(MiniMax-01, arXiv 2501.08313); FFNs are SwiGLU or MoE. Decoding keeps, per layer, an fp32 state
[B, H, d, d] for lightning layers (O(1) per token) or a KV cache for softmax layers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from litlab.attention.layers.ffn import MoE, SwiGLU
from litlab.attention.layers.kv_cache import KVCache
from litlab.attention.layers.lightning import DecayKind, LightningAttention
from litlab.attention.layers.norm import RMSNorm
from litlab.attention.layers.prefix import check_prefix_len
from litlab.attention.layers.softmax import SoftmaxAttention
from litlab.attention.layers.ssmax import SSMaxMode
from litlab.attention.models.config import BackboneConfig, FFNKind


@dataclass
class BackboneState:
    """Decoding state: one entry per layer (fp32 tensor or KVCache) and the tokens seen so far."""

    layers: list[Tensor | KVCache] = field(default_factory=list)
    length: int = 0


class Block(nn.Module):
    """Residual block around one mixer (attention) and one FFN.

    residual="prenorm": x <- alpha*x + beta*F(RMSNorm(x)); "minimax_postnorm" (MiniMax-01, arXiv 2501.08313,
    as in its released code): h = RMSNorm(x), x <- alpha*h + beta*F(h). alpha = beta = 1 adds nothing.
    """

    def __init__(
        self, mixer: nn.Module, ffn: nn.Module, dim: int, eps: float,
        residual: str = "prenorm", alpha: float = 1.0, beta: float = 1.0, dropout: float = 0.0,
    ) -> None:  # fmt: skip
        super().__init__()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.mixer_norm, self.mixer = RMSNorm(dim, eps=eps), mixer
        self.ffn_norm, self.ffn = RMSNorm(dim, eps=eps), ffn
        self.postnorm, self.alpha, self.beta = residual == "minimax_postnorm", float(alpha), float(beta)

    def _norm(self, x: Tensor, norm: nn.Module) -> tuple[Tensor, Tensor]:
        """(the residual branch, the sub-layer input) of x."""
        h = norm(x)
        return (h if self.postnorm else x), h

    def _add(self, res: Tensor, y: Tensor) -> Tensor:
        y = self.drop(y)
        res = res if self.alpha == 1.0 else self.alpha * res
        return res + (y if self.beta == 1.0 else self.beta * y)

    def _ffn(self, x: Tensor) -> Tensor:
        res, h = self._norm(x, self.ffn_norm)
        return self._add(res, self.ffn(h))

    def forward(self, x: Tensor, **mixer_kwargs) -> Tensor:
        res, h = self._norm(x, self.mixer_norm)
        return self._ffn(self._add(res, self.mixer(h, **mixer_kwargs)))

    def prefill(self, x: Tensor, state, **mixer_kwargs):
        res, h = self._norm(x, self.mixer_norm)
        y, state = self.mixer.prefill(h, state, **mixer_kwargs)
        return self._ffn(self._add(res, y)), state

    def step(self, x: Tensor, state):
        res, h = self._norm(x, self.mixer_norm)
        y, state = self.mixer.step(h, state)
        return self._ffn(self._add(res, y)), state


def _mixer(cfg: BackboneConfig, kind: str, idx: int) -> nn.Module:
    if kind == "L":
        return LightningAttention(
            cfg.dim, cfg.num_heads, cfg.head_dim, idx, cfg.num_layers, cfg.decay, cfg.learnable_decay,
            cfg.norm_eps if cfg.attn_norm_eps is None else cfg.attn_norm_eps,
        )  # fmt: skip
    return SoftmaxAttention(
        cfg.dim,
        cfg.num_heads,
        cfg.head_dim,
        cfg.num_kv_heads,
        cfg.rope_theta,
        rotary_dim=cfg.rotary_dim,
        ssmax=cfg.ssmax,
        ssmax_train_len=cfg.ssmax_train_len,
        position=cfg.position,
        qk_norm=cfg.qk_norm,
        attn_dropout=cfg.attn_dropout,
        window=cfg.window,
    )


def _ffn(cfg: BackboneConfig) -> nn.Module:
    if cfg.ffn == "moe":
        return MoE(cfg.dim, cfg.ffn_hidden, cfg.num_experts, cfg.top_k)
    return SwiGLU(cfg.dim, cfg.ffn_hidden)


class Backbone(nn.Module):
    """Embeddings [B, T, C] -> hidden states [B, T, C] (causal), with O(1) recurrent decoding.

    The arguments are the fields of `BackboneConfig` (documented there), validated on construction.
    """

    def __init__(
        self,
        dim: int,
        num_layers: int,
        num_heads: int,
        head_dim: int,
        pattern: str = "L",
        ffn: FFNKind = "swiglu",
        ffn_hidden: int | None = None,
        num_experts: int = 8,
        top_k: int = 2,
        num_kv_heads: int | None = None,
        rope_theta: float = 10000.0,
        decay: DecayKind = "minimax",
        learnable_decay: bool = False,
        ssmax: SSMaxMode = "off",
        ssmax_train_len: int = 1024,
        norm_eps: float = 1e-6,
        attn_norm_eps: float | None = None,
        rotary_dim: int | None = None,
        residual: str = "prenorm",
        residual_alpha: float = 1.0,
        residual_beta: float = 1.0,
        position: str = "rope",
        qk_norm: bool = False,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        window: int | None = None,
    ) -> None:
        super().__init__()
        cfg = BackboneConfig(
            dim, num_layers, num_heads, head_dim, pattern, ffn, ffn_hidden, num_experts, top_k, num_kv_heads,
            rope_theta, decay, learnable_decay, ssmax, ssmax_train_len, norm_eps,
            attn_norm_eps=attn_norm_eps, rotary_dim=rotary_dim, residual=residual,
            residual_alpha=residual_alpha, residual_beta=residual_beta, position=position, qk_norm=qk_norm,
            dropout=dropout, attn_dropout=attn_dropout, window=window,
        )  # fmt: skip
        self.config = cfg
        self.layer_types = cfg.layer_types()
        self.blocks = nn.ModuleList(
            Block(_mixer(cfg, kind, i), _ffn(cfg), cfg.dim, cfg.norm_eps, cfg.residual, cfg.residual_alpha,
                  cfg.residual_beta, cfg.dropout)
            for i, kind in enumerate(self.layer_types)
        )  # fmt: skip
        self.norm = RMSNorm(cfg.dim, eps=cfg.norm_eps)
        self.reset_parameters()

    @classmethod
    def from_config(cls, config: BackboneConfig) -> Backbone:
        return cls(**asdict(config))

    def reset_parameters(self, std: float = 0.02) -> None:
        """GPT-2 init: N(0, std) weights, residual output projections scaled by 1/sqrt(2 * layers)."""
        out_std = std / math.sqrt(2 * self.config.num_layers)
        for name, p in self.named_parameters():
            if p.dim() < 2:
                continue
            residual_out = name.endswith(("out_proj.weight", "down.weight", "w_down"))
            nn.init.normal_(p, std=out_std if residual_out else std)

    def _check(self, x: Tensor, ndim: int) -> None:
        if x.dim() != ndim or x.shape[-1] != self.config.dim:
            want = "[B, T, C]" if ndim == 3 else "[B, C]"
            raise ValueError(f"Backbone: x has shape {tuple(x.shape)}, expected {want} with C={self.config.dim}")

    def _prefix_kwargs(self, x: Tensor, prefix_len: Tensor | int | None) -> dict:
        if prefix_len is None:
            return {}
        return {"prefix_len": check_prefix_len(prefix_len, x.shape[0], x.shape[1], x.device)}

    def forward(self, x: Tensor, prefix_len: Tensor | int | None = None) -> Tensor:
        """Hidden states [B, T, C] of embeddings x [B, T, C].

        prefix_len (int or LongTensor [B], optional): prefix-LM attention. Row b attends bidirectionally
        among its first prefix_len[b] tokens and causally after them (softmax layers: an explicit mask;
        lightning layers: the prefix reads the state after the whole prefix, which seeds the causal part;
        see layers/prefix.py). None (default) is plain causal attention.
        """
        self._check(x, 3)
        kwargs = self._prefix_kwargs(x, prefix_len)
        for block in self.blocks:
            x = block(x, **kwargs)
        return self.norm(x)

    def init_state(self, batch: int) -> BackboneState:
        """An empty decoding state for `batch` sequences."""
        return BackboneState([block.mixer.init_state(batch) for block in self.blocks], 0)

    def prefill(
        self, x: Tensor, state: BackboneState, prefix_len: Tensor | int | None = None
    ) -> tuple[Tensor, BackboneState]:
        """Process a chunk x [B, T, C] in parallel, continuing from `state` (updated and returned).
        prefix_len as in `forward`, only on a fresh state; `step` then decodes causally after it."""
        self._check(x, 3)
        if prefix_len is not None and state.length:
            raise ValueError(f"Backbone.prefill: prefix_len needs a fresh state, this one holds {state.length} tokens")
        kwargs = self._prefix_kwargs(x, prefix_len)
        for i, block in enumerate(self.blocks):
            x, state.layers[i] = block.prefill(x, state.layers[i], **kwargs)
        state.length += x.shape[1]
        return self.norm(x), state

    def step(self, x_t: Tensor, state: BackboneState) -> tuple[Tensor, BackboneState]:
        """One token x_t [B, C] -> hidden state [B, C]; `state` is updated and returned."""
        self._check(x_t, 2)
        for i, block in enumerate(self.blocks):
            x_t, state.layers[i] = block.step(x_t, state.layers[i])
        state.length += 1
        return self.norm(x_t), state

    def reset_state(self, state: BackboneState, done: Tensor) -> BackboneState:
        """Zero the recurrent state of the sequences where done [B] (bool) is True, e.g. at episode ends
        in vectorised environments. Lightning layers only: a softmax layer's KV cache and positions are
        shared by the batch, so a backbone with softmax layers must start a new state instead."""
        if any(isinstance(layer, KVCache) for layer in state.layers) and bool(done.any()):
            raise ValueError(f"reset_state needs a pure lightning backbone, got layer types {self.layer_types!r}")
        keep = (~done.to(torch.bool)).to(torch.float32)[:, None, None, None]
        state.layers = [layer * keep for layer in state.layers]
        return state

    def compile_blocks(self, **compile_kwargs) -> None:
        """`torch.compile` each block's forward (the training path; prefill/step stay eager). The blocks
        share one compiled graph set (parameters are graph inputs); the lightning op and the MoE dispatch
        are graph breaks, so the compiler fuses the token-wise work around them: norms with residual adds,
        SiLU/sigmoid/gating, SwiGLU. Same math; bf16 intermediates are rounded less often. Shapes are
        dynamic by default (one compilation for every batch size and length)."""
        compile_kwargs.setdefault("dynamic", True)
        for block in self.blocks:
            block.compile(**compile_kwargs)

    def aux_loss(self) -> Tensor:
        """Sum of the MoE load-balancing losses of the last forward (0 without MoE)."""
        losses = [b.ffn.aux_loss for b in self.blocks if isinstance(b.ffn, MoE)]
        return torch.stack(losses).sum() if losses else torch.zeros(())
