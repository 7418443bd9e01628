"""`chunked_token_logps`: the public entry point (validation, label gathering, scatter back to [R, T])."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .chunked import ChunkedLogProbFunction
from .fused import FusedLinearTokenLoss, LossFn, _check_plan
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


def _labels(targets: Tensor, vocab: int, ignore_index: int) -> tuple[Tensor, Tensor]:
    valid = targets != ignore_index
    y = targets[valid].long()
    if y.numel() and bool(((y < 0) | (y >= vocab)).any()):
        bad = y[(y < 0) | (y >= vocab)][:5].tolist()
        raise ValueError(f"targets must be in [0, V={vocab}) or {ignore_index}, got e.g. {bad}")
    return valid, y


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
    valid, y = _labels(targets, weight.shape[0], ignore_index)
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


def fused_token_loss(
    hidden: Tensor,
    weight: Tensor,
    targets: Tensor,
    loss_fn: LossFn,
    bias: Tensor | None = None,
    transform: HeadTransform | None = None,
    *,
    groups: Sequence[Sequence[int]] | None = None,
    shared: Sequence[int] = (),
    partial_loss_fn: LossFn | None = None,
    ignore_index: int = -100,
    token_chunk: int = 8192,
    cache_gib: float = 6.0,
    compile: bool | None = None,
) -> tuple[Tensor, dict]:
    """(loss, info) = loss_fn(label log-probs [R, T]) with the LM head fused in (three head GEMMs per token).

    Args:
        hidden, weight, targets, bias, transform, ignore_index: as in `chunked_token_logps`.
        loss_fn: maps label log-probs [R, T] (0 off-label, fp32 or float64) to (scalar loss, info dict) or a
            scalar loss; evaluated once per group becoming final (unknown rows read 0 then) and once on all.
            Gradients flow through the log-probs only: anything else it uses is a constant (reference
            log-probs are; a learnable loss parameter would get no gradient).
        groups: a partition of the rows 0..R-1 such that the gradient of a row depends only on the log-probs
            of its group and of `shared` (preference pairs; `PreferenceObjective.gradient_groups`). None: one
            group (always valid). A wrong declaration raises a RuntimeError, never a wrong gradient.
        shared: rows every gradient depends on (SMPO's pooled quantile: the rejected rows); computed first.
        partial_loss_fn: the same loss without the logging work, for the evaluations before the last one (its
            gradients are checked against loss_fn's like the groups); default loss_fn.
        token_chunk: tokens per chunk; each chunk's logits [token_chunk, V] exist at once in the input dtype.
        cache_gib: budget for chunks waiting for their group; chunks beyond it are recomputed (4th GEMM).
        compile: fuse the elementwise chunk work with torch.compile (default: on CUDA only).
    """
    _check(hidden, weight, targets, bias, token_chunk, 1)
    if not cache_gib >= 0:
        raise ValueError(f"cache_gib must be >= 0, got {cache_gib!r}")
    valid, y = _labels(targets, weight.shape[0], ignore_index)
    groups, shared = _check_plan(targets.shape[0], groups, shared)
    counts = valid.sum(1).tolist()
    offsets = [sum(counts[:r]) for r in range(len(counts))]
    acc = torch.float64 if hidden.dtype == torch.float64 else torch.float32

    def scatter(lp: Tensor) -> Tensor:
        return torch.zeros(targets.shape, dtype=acc, device=hidden.device).masked_scatter(valid, lp)

    def as_pair(out) -> tuple[Tensor, dict]:
        return (out, {}) if isinstance(out, Tensor) else (out[0], dict(out[1]))

    if y.numel() == 0:
        loss, info = as_pair(loss_fn(scatter(hidden.new_zeros(0, dtype=acc))))
        return loss + 0.0 * (hidden.sum() + weight.sum()), info
    cfg = dict(
        token_chunk=int(token_chunk), cache_gib=float(cache_gib), transform=transform or HeadTransform(),
        compile=hidden.is_cuda if compile is None else bool(compile),
    )  # fmt: skip
    info: dict = {}
    plan = (groups, shared, offsets, counts)
    partial = loss_fn if partial_loss_fn is None else partial_loss_fn
    fns = (lambda lp: as_pair(partial(lp)), lambda lp: as_pair(loss_fn(lp)))
    loss = FusedLinearTokenLoss.apply(hidden[valid], weight, bias, y, fns, scatter, plan, cfg, info)
    return loss, info
