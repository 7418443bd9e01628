"""`chunked_token_logps`: the public entry point (validation, label gathering, scatter back to [R, T])."""

from __future__ import annotations

import torch
from torch import Tensor

from .chunked import ChunkedLogProbFunction
from .head import HeadTransform


def _check(hidden: Tensor, weight: Tensor, targets: Tensor, bias: Tensor | None, token_chunk: int, vocab_chunk: int):
    if hidden.ndim != 3 or not hidden.is_floating_point():
        raise ValueError(f"hidden must be a floating [R, T, d] tensor, got {hidden.dtype} {tuple(hidden.shape)}")
    if weight.ndim != 2 or weight.shape[1] != hidden.shape[2]:
        raise ValueError(f"weight must be [V, d={hidden.shape[2]}], got {tuple(weight.shape)}")
    if weight.dtype != hidden.dtype:
        raise ValueError(f"weight dtype {weight.dtype} must match hidden dtype {hidden.dtype}")
    if bias is not None and (bias.shape != weight.shape[:1]):
        raise ValueError(f"bias must be [V={weight.shape[0]}], got {tuple(bias.shape)}")
    if targets.shape != hidden.shape[:2] or targets.dtype not in (torch.int64, torch.int32):
        raise ValueError(
            f"targets must be an integer [R, T] = {tuple(hidden.shape[:2])} tensor, got {targets.dtype} "
            f"{tuple(targets.shape)}"
        )
    if len({hidden.device, weight.device, targets.device}) != 1:
        devices = (hidden.device, weight.device, targets.device)
        raise ValueError(f"hidden, weight and targets must share a device, got {devices}")
    for name, value in (("token_chunk", token_chunk), ("vocab_chunk", vocab_chunk)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value!r}")


def chunked_token_logps(
    hidden: Tensor,
    weight: Tensor,
    targets: Tensor,
    bias: Tensor | None = None,
    transform: HeadTransform | None = None,
    *,
    ignore_index: int = -100,
    token_chunk: int = 8192,
    vocab_chunk: int = 32768,
    compile: bool | None = None,
) -> Tensor:
    """Label log-probs [R, T] (fp32, float64 for float64 inputs; 0 where targets == ignore_index).

    Args:
        hidden: [R, T, d] final hidden states (after the final norm).
        weight: [V, d] output-head weight (tied embeddings work: the gradient flows to the shared tensor).
        targets: [R, T] next-token labels aligned with hidden (targets[:, t] is predicted from hidden[:, t]).
        bias: optional [V] head bias.
        transform: post-head logit transforms (scale, soft-capping, temperature), applied inside each tile.
        ignore_index: label value of positions without a label.
        token_chunk, vocab_chunk: tile sizes; memory is O(token_chunk * vocab_chunk).
        compile: fuse the tile elementwise work with torch.compile (default: on CUDA only).
    """
    _check(hidden, weight, targets, bias, token_chunk, vocab_chunk)
    valid = targets != ignore_index
    y = targets[valid].long()
    if y.numel() and bool(((y < 0) | (y >= weight.shape[0])).any()):
        bad = y[(y < 0) | (y >= weight.shape[0])][:5].tolist()
        raise ValueError(f"targets must be in [0, V={weight.shape[0]}) or {ignore_index}, got e.g. {bad}")
    transform = HeadTransform() if transform is None else transform
    use_compile = hidden.is_cuda if compile is None else bool(compile)
    acc = torch.float64 if hidden.dtype == torch.float64 else torch.float32
    out = torch.zeros(targets.shape, dtype=acc, device=hidden.device)
    if y.numel() == 0:
        return out + 0.0 * hidden.sum()  # keeps the graph connected
    picked = ChunkedLogProbFunction.apply(
        hidden[valid], weight, bias, y, transform, int(token_chunk), int(vocab_chunk), use_compile
    )
    return out.masked_scatter(valid, picked)
