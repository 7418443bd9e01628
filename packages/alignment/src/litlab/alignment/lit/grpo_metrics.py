"""What a GRPO rollout logs: rewards per function, group spread, lengths, truncation and EOS rates."""

from __future__ import annotations

import torch
from torch import Tensor

from litlab.alignment.generation import Rollout


def _nanmean(x: Tensor) -> float:
    x = x[~x.isnan()]
    return float(x.mean()) if x.numel() else float("nan")


def _nanstd(x: Tensor) -> float:
    x = x[~x.isnan()]
    return float(x.std()) if x.numel() > 1 else float("nan")


def rollout_metrics(roll: Rollout, table: Tensor, total: Tensor, names: list[str], generations: int) -> dict:
    """Scalars of one rollout: reward (mean, std, per function as rewards/<name>/mean|std, accuracy when an
    `accuracy` reward exists), frac_reward_zero_std (groups whose rewards are all equal: no gradient),
    completion_length (mean / min / max, EOS included), truncation_rate and eos_rate."""
    table, total = table.float().cpu(), total.float().cpu()
    out = {"reward": _nanmean(total), "reward_std": _nanstd(total)}
    for k, name in enumerate(names):
        out[f"rewards/{name}/mean"] = _nanmean(table[:, k])
        out[f"rewards/{name}/std"] = _nanstd(table[:, k])
    if "accuracy" in names:
        out["accuracy"] = out["rewards/accuracy/mean"]
    if generations > 1:
        groups = total.view(-1, generations)
        spread = torch.where(groups.isnan(), groups.nan_to_num(0.0), groups)
        out["frac_reward_zero_std"] = float((spread.max(1).values == spread.min(1).values).float().mean())
    lengths = roll.lengths.float().cpu()
    out.update(completion_length=float(lengths.mean()), completion_length_min=float(lengths.min()),
               completion_length_max=float(lengths.max()))  # fmt: skip
    eos = float(roll.terminated.float().mean())
    out.update(eos_rate=eos, truncation_rate=1.0 - eos)
    return out
