"""Named reward functions with weights, and their combination into one reward per completion.

r_i = sum_k w_k R_k(x, o_i), where a function's None ("not applicable") is NaN and the sum is a nansum; a
completion for which every function answered None gets NaN, which `grpo_advantages` leaves out of its
group's statistics (advantage 0).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable

import torch
from torch import Tensor

from .verifiable import (
    accuracy_reward,
    int_answer_reward,
    soft_format_reward,
    strict_format_reward,
    tag_count_reward,
)

RewardFn = Callable[..., list]
REWARDS: dict[str, RewardFn] = {
    "accuracy": accuracy_reward,
    "strict_format": strict_format_reward,
    "soft_format": soft_format_reward,
    "int_answer": int_answer_reward,
    "tag_count": tag_count_reward,
}


def resolve_reward(name: str) -> RewardFn:
    """A built-in reward by name (see REWARDS) or any function by dotted path ('pkg.module.fn')."""
    if name in REWARDS:
        return REWARDS[name]
    if "." not in name:
        raise ValueError(f"unknown reward {name!r}: use one of {sorted(REWARDS)} or a dotted path 'pkg.module.fn'")
    module, _, attr = name.rpartition(".")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"reward {name!r} could not be imported: {err}") from err
    if not callable(fn):
        raise ValueError(f"reward {name!r} is not callable")
    return fn


def resolve_rewards(weights: dict[str, float]) -> dict[str, tuple[RewardFn, float]]:
    """{name: weight} -> {name: (function, weight)}; at least one function, finite weights."""
    if not weights:
        raise ValueError("rewards must name at least one reward function, e.g. {'accuracy': 1.0}")
    out = {}
    for name, w in weights.items():
        if not math.isfinite(float(w)):
            raise ValueError(f"reward weight of {name!r} must be finite, got {w!r}")
        out[name] = (resolve_reward(name), float(w))
    return out


def compute_rewards(
    functions: dict[str, tuple[RewardFn, float]], prompts: list, completions: list, columns: dict[str, list]
) -> tuple[Tensor, Tensor]:
    """(per-function rewards [N, K] with NaN for None, combined weighted nansum [N]; NaN where all are None)."""
    n = len(completions)
    if len(prompts) != n:
        raise ValueError(f"{len(prompts)} prompts for {n} completions: pass one prompt per completion")
    table = torch.full((n, len(functions)), float("nan"), dtype=torch.float32)
    for k, (name, (fn, _)) in enumerate(functions.items()):
        values = fn(prompts, completions, **columns)
        if not isinstance(values, list | tuple) or len(values) != n:
            raise ValueError(f"reward {name!r} must return a list of {n} floats or None, got {type(values).__name__} "
                             f"of length {len(values) if hasattr(values, '__len__') else '?'}")  # fmt: skip
        for i, v in enumerate(values):
            if v is not None:
                table[i, k] = float(v)
    weights = torch.tensor([w for _, w in functions.values()], dtype=torch.float32)
    weighted = table * weights
    total = torch.where(weighted.isnan(), 0.0, weighted).sum(1)
    total = torch.where(table.isnan().all(1), float("nan"), total)
    return table, total
