"""GRPO: group-relative advantages and the clipped surrogate (DeepSeekMath, arXiv 2402.03300, eq. 3),
with the token reductions of DAPO (arXiv 2503.14476) and Dr. GRPO (arXiv 2503.20783), as TRL's
`GRPOTrainer` defines them.

Advantages, one group of G completions per prompt (rewards r [P, G]):
    A_i = (r_i - mean_G r) / (std_G r + 1e-4),   std unbiased (G - 1 in the denominator)
`scale_rewards="batch"` divides by the std over the whole batch, `"none"` not at all (Dr. GRPO).
A NaN reward (every reward function answered None) leaves the group statistics; its advantage is 0.

Per-token loss, ratio rho = exp(l - l_old) (l_old = sg(l) with one update per generation):
    L_it = -min(rho * A_i, clip(rho, 1 - eps, 1 + eps_high) * A_i) + beta * KL_it
    KL_it = exp(l_ref - l) - (l_ref - l) - 1           (k3 estimator, >= 0, unbiased for KL(pi || ref))
`delta` (TRL's two-sided GRPO clip) also caps rho at delta in the first term.

Reductions over the completion mask M [B, T]:
    grpo     mean_i [ sum_t M L / max(1, sum_t M) ]          (a row mean: favours short completions)
    bnpo     sum M L / max(1, sum M)                          (the local micro-batch)
    dr_grpo  sum M L / (B * max_completion_length)
    dapo     sum M L / max(1, N)   N = active tokens of the whole generation batch (`num_items`)
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import as_fp32, check_choice

GRPO_LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")
SCALE_REWARDS = ("group", "batch", "none")
STD_EPS = 1e-4


def grpo_advantages(rewards: Tensor, scale_rewards: str = "group") -> Tensor:
    """Advantages [P, G] of rewards [P, G] (fp32 at least; NaN rewards -> advantage 0, out of the statistics)."""
    check_choice("scale_rewards", scale_rewards, SCALE_REWARDS)
    if not isinstance(rewards, Tensor) or rewards.ndim != 2 or not rewards.is_floating_point():
        raise ValueError(f"rewards must be a floating [P, G] tensor, got {getattr(rewards, 'shape', rewards)!r}")
    if rewards.shape[1] < 2:
        raise ValueError(f"rewards need G >= 2 completions per prompt (a group std), got G = {rewards.shape[1]}")
    r = as_fp32(rewards)
    valid = ~torch.isnan(r)
    count = valid.sum(1, keepdim=True)
    filled = torch.where(valid, r, 0.0)
    mean = filled.sum(1, keepdim=True) / count.clamp(min=1)
    centred = torch.where(valid, r - mean, 0.0)
    if scale_rewards == "none":
        return centred
    if scale_rewards == "group":
        std = (centred.square().sum(1, keepdim=True) / (count - 1).clamp(min=1)).sqrt()
        std = torch.where(count > 1, std, 0.0)
    else:
        flat = r[valid]
        std = flat.std() if flat.numel() > 1 else r.new_zeros(())
    return centred / (std + STD_EPS)


def _check_tokens(named: dict[str, Tensor | None], mask: Tensor, advantages: Tensor) -> None:
    if mask.ndim != 2 or mask.dtype not in (torch.bool, torch.float32, torch.float64, torch.int64, torch.int32):
        raise ValueError(f"completion_mask must be a [B, T] bool/0-1 tensor, got {mask.dtype} {tuple(mask.shape)}")
    for name, value in named.items():
        if value is not None and (value.shape != mask.shape or not value.is_floating_point()):
            raise ValueError(f"{name} must be a floating [B, T] = {tuple(mask.shape)} tensor, got "
                             f"{value.dtype} {tuple(value.shape)}")  # fmt: skip
    if advantages.shape != mask.shape[:1]:
        raise ValueError(
            f"advantages must be [B] = [{mask.shape[0]}] (one per completion), got {tuple(advantages.shape)}"
        )


def _reduce(per_token: Tensor, mask: Tensor, loss_type: str, max_completion_length: int | None,
            num_items: float | None) -> Tensor:  # fmt: skip
    total = (per_token * mask).sum()
    if loss_type == "grpo":
        return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "bnpo":
        return total / mask.sum().clamp(min=1.0)
    if loss_type == "dr_grpo":
        if max_completion_length is None or max_completion_length < 1:
            raise ValueError(f"loss_type='dr_grpo' needs max_completion_length >= 1, got {max_completion_length!r}")
        return total / (mask.shape[0] * max_completion_length)
    n = mask.sum() if num_items is None else torch.as_tensor(float(num_items), dtype=total.dtype)
    if num_items is not None and num_items < 0:
        raise ValueError(f"num_items (active tokens of the generation batch) must be >= 0, got {num_items}")
    return total / n.clamp(min=1.0)


def _masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def grpo_loss(
    per_token_logps: Tensor,
    old_per_token_logps: Tensor | None,
    ref_per_token_logps: Tensor | None,
    advantages: Tensor,
    completion_mask: Tensor,
    *,
    beta: float = 0.0,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    delta: float | None = None,
    loss_type: str = "dapo",
    max_completion_length: int | None = None,
    num_items: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """(scalar loss, info) of the GRPO surrogate. See the module docstring for the formulas.

    Args:
        per_token_logps: [B, T] log-probs of the sampled tokens under the policy (with gradient).
        old_per_token_logps: [B, T] log-probs at generation time (None: sg(per_token_logps), ratio 1).
        ref_per_token_logps: [B, T] frozen-reference log-probs; needed when beta > 0, ignored otherwise.
        advantages: [B] one advantage per completion row.
        completion_mask: [B, T] tokens of each completion through its first EOS (0 for masked rows).
        beta: k3-KL coefficient. epsilon / epsilon_high: clip range [1 - eps, 1 + eps_high] (eps_high None = eps).
        delta: optional upper cap on rho in the unclipped term (two-sided GRPO clip); None: off.
        loss_type: grpo | bnpo | dr_grpo | dapo. max_completion_length: dr_grpo's constant length.
        num_items: dapo's normaliser, the active tokens of the whole generation batch (None: this mask's sum).
    Info: clip_ratio/low_mean, clip_ratio/high_mean, clip_ratio/region_mean (token fractions of the mask),
    kl (masked mean k3 KL, when beta > 0), ratio_mean, loss.
    """
    check_choice("loss_type", loss_type, GRPO_LOSS_TYPES)
    eps_low, eps_high = float(epsilon), float(epsilon if epsilon_high is None else epsilon_high)
    if not (0 <= eps_low < 1 and eps_high >= 0):
        raise ValueError(f"need 0 <= epsilon < 1 and epsilon_high >= 0, got {epsilon}, {epsilon_high}")
    if beta < 0 or (delta is not None and delta <= 1):
        raise ValueError(f"need beta >= 0 and delta None or > 1, got beta={beta}, delta={delta}")
    if beta > 0 and ref_per_token_logps is None:
        raise ValueError("beta > 0 needs ref_per_token_logps (the frozen reference's log-probs)")
    _check_tokens({"per_token_logps": per_token_logps, "old_per_token_logps": old_per_token_logps,
                   "ref_per_token_logps": ref_per_token_logps}, completion_mask, advantages)  # fmt: skip
    logp = as_fp32(per_token_logps)
    old = logp.detach() if old_per_token_logps is None else as_fp32(old_per_token_logps).to(logp.dtype)
    mask = completion_mask.to(logp.dtype)
    adv = as_fp32(advantages).to(logp.dtype)[:, None]
    ratio = torch.exp(logp - old)
    clipped = ratio.clamp(1 - eps_low, 1 + eps_high)
    first = ratio if delta is None else ratio.clamp(max=delta)
    per_token = -torch.min(first * adv, clipped * adv)
    info: dict[str, Tensor] = {}
    if beta > 0:
        diff = as_fp32(ref_per_token_logps).to(logp.dtype) - logp
        kl = torch.exp(diff) - diff - 1
        per_token = per_token + beta * kl
        info["kl"] = _masked_mean(kl.detach(), mask)
    loss = _reduce(per_token, mask, loss_type, max_completion_length, num_items)
    with torch.no_grad():
        low = (ratio < 1 - eps_low) & (adv < 0)
        high = (ratio > 1 + eps_high) & (adv > 0)
        info["clip_ratio/low_mean"] = _masked_mean(low.to(mask.dtype), mask)
        info["clip_ratio/high_mean"] = _masked_mean(high.to(mask.dtype), mask)
        info["clip_ratio/region_mean"] = _masked_mean((low | high).to(mask.dtype), mask)
        info["ratio_mean"] = _masked_mean(ratio, mask)
        info["loss"] = loss.detach()
    return loss, info
