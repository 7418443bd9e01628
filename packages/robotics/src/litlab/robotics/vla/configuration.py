"""Configuration of the TinyVLA policies (the "configuration" of LeRobot's configuration / modeling /
processor triplet): sizes and inference options; the vocabulary and H, D come from the processor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class VLAConfig:
    """Sizes and options of :class:`TinyVLA` / :class:`TinyVLAFlow` (validated on construction)."""

    head: Literal["tokens", "flow"] = "tokens"
    """How actions leave the model: autoregressive action tokens (FAST or binning) or a flow-matching head."""
    image_size: int = 64
    """Side of the square RGB input in pixels."""
    patch: int = 8
    """Downsampling of the conv stem: (image_size / patch)^2 image tokens (8 at 64 px gives 64)."""
    dim: int = 128
    """Model width C."""
    num_layers: int = 4
    """Backbone blocks."""
    num_heads: int = 4
    """Attention heads (head_dim = dim / num_heads)."""
    pattern: str = "S"
    """Backbone layer pattern: 'S' softmax, 'L' lightning, e.g. 'LLS'."""
    n_action_steps: int | None = None
    """Actions executed open loop from each chunk before re-planning; None: half the horizon."""
    restrict_decode: bool = True
    """Greedy decoding only over the action block and the terminator."""
    flow_steps: int = 10
    """Euler steps of the flow head at inference."""

    def __post_init__(self) -> None:
        if self.head not in ("tokens", "flow"):
            raise ValueError(f"VLAConfig.head must be 'tokens' or 'flow', got {self.head!r}")
        for name in ("image_size", "patch", "dim", "num_layers", "num_heads", "flow_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"VLAConfig.{name} must be a positive int, got {getattr(self, name)!r}")
        if self.patch % 2 or self.image_size % self.patch:
            raise ValueError(f"VLAConfig.patch must be even and divide image_size={self.image_size}, got {self.patch}")
        if self.dim % self.num_heads:
            raise ValueError(f"VLAConfig.num_heads={self.num_heads} must divide dim={self.dim}")
        if self.n_action_steps is not None and self.n_action_steps < 1:
            raise ValueError(f"VLAConfig.n_action_steps must be >= 1 or None, got {self.n_action_steps}")

    @property
    def image_tokens(self) -> int:
        return (self.image_size // self.patch) ** 2
