"""Configuration of the layer stack shared by `Backbone`, `CausalLM` and `LanguageModel`.

Layer pattern (MiniMax-01, arXiv 2501.08313, Sec. 2.3): layer l uses pattern[l % len(pattern)], with
"L" a lightning attention layer and "S" a softmax attention layer. "LLLLLLLS" puts a softmax layer
after every 7 lightning layers (layers 7, 15, ...), "L" is pure lightning (TransNormer-like) and "S" the
softmax baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FFNKind = Literal["swiglu", "moe"]


@dataclass
class BackboneConfig:
    """Sizes and options of a `Backbone` (validated on construction)."""

    dim: int = 256
    """Model width C."""
    num_layers: int = 4
    """Number of residual blocks."""
    num_heads: int = 4
    """Attention heads per layer (query heads in softmax layers)."""
    head_dim: int = 64
    """Channels per head."""
    pattern: str = "L"
    """Layer types, repeated over the depth: 'L' lightning, 'S' softmax (e.g. 'LLLLLLLS')."""
    ffn: FFNKind = "swiglu"
    """Feed-forward: 'swiglu' (dense) or 'moe' (top-k mixture of SwiGLU experts)."""
    ffn_hidden: int | None = None
    """Inner width of the SwiGLU (per expert for MoE); None: 8/3 * dim rounded up to 64."""
    num_experts: int = 8
    """MoE experts E (ffn='moe' only)."""
    top_k: int = 2
    """MoE experts per token k (ffn='moe' only)."""
    num_kv_heads: int | None = None
    """Key/value heads of softmax layers (grouped-query attention); None: num_heads."""
    rope_theta: float = 10000.0
    """RoPE base of softmax layers."""
    decay: Literal["minimax", "alibi", "tnl_paper", "none"] = "minimax"
    """Decay slope formula of lightning layers."""
    learnable_decay: bool = False
    """Train the lightning decay slopes."""
    ssmax: Literal["off", "learn", "posthoc"] = "off"
    """Scalable-Softmax in softmax layers: off, learn (trainable s per head) or posthoc (fixed)."""
    ssmax_train_len: int = 1024
    """Training context that sets the initial (learn) or fixed (posthoc) SSMax scale."""
    norm_eps: float = 1e-6
    """RMSNorm epsilon."""
    attn_norm_eps: float | None = None
    """Epsilon of the RMSNorm inside lightning layers (after the attention); None: norm_eps."""
    rotary_dim: int | None = None
    """Channels rotated by RoPE in softmax layers (even, <= head_dim); None: all (MiniMax-01 rotates 64 of 128)."""
    residual: Literal["prenorm", "minimax_postnorm"] = "prenorm"
    """Residual scheme per sub-layer F: 'prenorm' x <- alpha*x + beta*F(RMSNorm(x)); 'minimax_postnorm'
    (MiniMax-01) h = RMSNorm(x), x <- alpha*h + beta*F(h), the residual taken from the normalised input."""
    residual_alpha: float = 1.0
    """alpha of the residual scheme (MiniMax-01: (2N)^(1/4) for N layers)."""
    residual_beta: float = 1.0
    """beta of the residual scheme."""
    position: Literal["rope", "alibi", "none"] = "rope"
    """Positional signal of softmax layers: RoPE, ALiBi biases (arXiv 2108.12409) or none (lightning layers
    get theirs from the decay)."""
    qk_norm: bool = False
    """Per-head LayerNorm of q and k in softmax layers (as Vintix, arXiv 2501.19400)."""
    dropout: float = 0.0
    """Dropout on each sub-layer's output before the residual add (training only)."""
    attn_dropout: float = 0.0
    """Dropout on the attention weights of softmax layers (training only)."""
    window: int | None = None
    """Sliding window of softmax layers (keys per query, itself included) in training and in the KV cache;
    None: unbounded."""

    def __post_init__(self) -> None:
        for name in ("dim", "num_layers", "num_heads", "head_dim", "num_experts", "top_k"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"BackboneConfig.{name} must be a positive int, got {value!r}")
        if not self.pattern or set(self.pattern) - {"L", "S"}:
            raise ValueError(f"BackboneConfig.pattern must be a non-empty string of 'L'/'S', got {self.pattern!r}")
        if self.ffn not in ("swiglu", "moe"):
            raise ValueError(f"BackboneConfig.ffn must be 'swiglu' or 'moe', got {self.ffn!r}")
        if self.top_k > self.num_experts:
            raise ValueError(f"BackboneConfig.top_k={self.top_k} exceeds num_experts={self.num_experts}")
        if self.residual not in ("prenorm", "minimax_postnorm"):
            raise ValueError(f"BackboneConfig.residual must be 'prenorm' or 'minimax_postnorm', got {self.residual!r}")
        if self.position not in ("rope", "alibi", "none"):
            raise ValueError(f"BackboneConfig.position must be 'rope', 'alibi' or 'none', got {self.position!r}")
        for name in ("dropout", "attn_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"BackboneConfig.{name} must be in [0, 1), got {getattr(self, name)!r}")
        if self.window is not None and self.window < 1:
            raise ValueError(f"BackboneConfig.window must be >= 1 or None, got {self.window!r}")
        kv = self.num_heads if self.num_kv_heads is None else self.num_kv_heads
        if kv < 1 or self.num_heads % kv:
            raise ValueError(f"BackboneConfig.num_kv_heads must divide num_heads={self.num_heads}, got {kv}")

    def layer_types(self) -> str:
        """One letter per layer, e.g. 'LLLS' for pattern 'LLLS' and 4 layers."""
        return "".join(self.pattern[i % len(self.pattern)] for i in range(self.num_layers))
