"""The optimizer plumbing every litlab module shares: AdamW parameter groups and warmup + cosine.

- `param_groups`: weight decay on matrices only; no decay on norms, biases and other vectors
  (ndim < 2), and optionally none on embedding tables (GPT-2 / nanoGPT convention).
- `warmup_cosine`: linear warmup, then a cosine from the peak down to `min_ratio` of it
  (Loshchilov & Hutter, arXiv 1608.03983), constant after `total_steps`.
- `check_schedule`: the argument checks every module runs in its ``__init__``.
- `adamw_warmup_cosine`: both, as the dict Lightning's `configure_optimizers` returns, with the total
  step count taken from the trainer so that `--trainer.max_steps` always shapes the schedule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn


def param_groups(
    module: nn.Module | Iterable[tuple[str, nn.Parameter]],
    weight_decay: float,
    *,
    decay_embeddings: bool = True,
) -> list[dict]:
    """Two AdamW groups over the trainable parameters of `module` (or of `(name, param)` pairs):
    matrices with `weight_decay`, vectors (norm gains, biases) without; embedding tables
    (`nn.Embedding` weights) go without decay when `decay_embeddings` is False. Empty groups are
    dropped; a module with no trainable parameter is refused."""
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    embedding_ids: set[int] = set()
    if isinstance(module, nn.Module):
        if not decay_embeddings:
            embedding_ids = {id(m.weight) for m in module.modules() if isinstance(m, nn.Embedding)}
        named = module.named_parameters()
    else:
        named = module
    decay, no_decay = [], []
    for _, p in named:
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or id(p) in embedding_ids else decay).append(p)
    if not decay and not no_decay:
        raise ValueError("param_groups: the module has no trainable parameters")
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Multiplier of the peak learning rate at `step` (0-based): (step+1)/warmup during warmup, then
    a cosine from 1 down to `min_ratio` at `total_steps`, constant after."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def total_training_steps(trainer) -> int:
    """The optimizer steps a fit will take (Lightning's estimate, which honours `max_steps`,
    `max_epochs` and gradient accumulation); at least 1."""
    return max(1, int(trainer.estimated_stepping_batches))


def check_schedule(*, lr: float, warmup_steps: int, min_lr_ratio: float, weight_decay: float = 0.0) -> None:
    """Refuse optimizer settings that cannot work, naming the argument: a module calls this in its
    ``__init__`` so that a bad recipe fails before any data is read."""
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if not 0 <= min_lr_ratio <= 1:
        raise ValueError(f"min_lr_ratio must be in [0, 1], got {min_lr_ratio}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")


def adamw_warmup_cosine(
    params: list[dict] | Iterable[nn.Parameter],
    *,
    lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    min_lr_ratio: float = 0.1,
    betas: tuple[float, float] = (0.9, 0.95),
    fused: bool = False,
) -> dict:
    """AdamW over `params` (groups from `param_groups`, or plain parameters) with a per-step warmup +
    cosine schedule; the return value is what `LightningModule.configure_optimizers` returns. A warmup
    longer than the run is shortened to end one step before it."""
    check_schedule(lr=lr, warmup_steps=warmup_steps, min_lr_ratio=min_lr_ratio)
    opt = torch.optim.AdamW(params, lr=lr, betas=tuple(betas), fused=fused)
    warmup = min(warmup_steps, max(total_steps - 1, 0))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, warmup, total_steps, min_lr_ratio))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
