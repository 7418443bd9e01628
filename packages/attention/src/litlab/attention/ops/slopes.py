"""Per-head decay slopes s (lambda = exp(-s)) for Lightning Attention.

Three conventions:

- ``"alibi"``: the ALiBi base slopes s_h = 2^(-8(h+1)/H) (Press et al., arXiv 2108.12409), used by the
  OpenNLPLab kernels, TransNormerLLM's code and MiniMax-01; non-powers of two follow the ALiBi rule.
- ``"minimax"``: MiniMax-01 / TNL released code (arXiv 2501.08313): s_{h,l} = s_h (1 - l/(L-1) + 1e-5),
  with l the global layer index and L the number of layers (L = 1 gives factor 1).
- ``"tnl_paper"``: TransNormerLLM Eq. 10 (arXiv 2307.14995): s_{h,l} = (8h/H)(1 - l/L).
"""

from __future__ import annotations

import math

import torch

KINDS = ("alibi", "minimax", "tnl_paper")


def _alibi_power_of_two(n: int) -> list[float]:
    return [2.0 ** (-8.0 * (h + 1) / n) for h in range(n)]


def alibi_slopes(num_heads: int) -> list[float]:
    """ALiBi base slopes for ``num_heads`` heads (closest power of two plus every other slope of 2P)."""
    p = 2 ** int(math.floor(math.log2(num_heads)))
    out = _alibi_power_of_two(p)
    if p < num_heads:
        out += _alibi_power_of_two(2 * p)[0::2][: num_heads - p]
    return out


def slopes(num_heads: int, layer_idx: int = 0, num_layers: int = 1, kind: str = "minimax") -> torch.Tensor:
    """Decay slopes s >= 0 of one layer as an fp32 tensor ``[num_heads]``.

    Args:
        num_heads: number of heads H >= 1.
        layer_idx: global layer index l in [0, num_layers) (softmax layers count too).
        num_layers: total number of layers L >= 1.
        kind: ``"alibi"`` (layer independent), ``"minimax"`` or ``"tnl_paper"``.
    """
    if not isinstance(num_heads, int) or num_heads < 1:
        raise ValueError(f"num_heads: got {num_heads!r}, expected an int >= 1")
    if not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"num_layers: got {num_layers!r}, expected an int >= 1")
    if not isinstance(layer_idx, int) or not 0 <= layer_idx < num_layers:
        raise ValueError(f"layer_idx: got {layer_idx!r}, expected an int in [0, {num_layers})")
    if kind == "alibi":
        s = alibi_slopes(num_heads)
    elif kind == "minimax":
        factor = 1.0 if num_layers == 1 else 1.0 - layer_idx / (num_layers - 1) + 1e-5
        s = [x * factor for x in alibi_slopes(num_heads)]
    elif kind == "tnl_paper":
        s = [(8.0 * h / num_heads) * (1.0 - layer_idx / num_layers) for h in range(num_heads)]
    else:
        raise ValueError(f"kind: got {kind!r}, expected one of {KINDS}")
    return torch.tensor(s, dtype=torch.float32)
