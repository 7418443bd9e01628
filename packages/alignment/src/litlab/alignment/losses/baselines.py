"""Baseline preference losses: DPO (arXiv 2305.18290) with cDPO/robust/hinge (SLiC) and IPO (arXiv
2310.12036) variants, SimPO (arXiv 2405.14734) and ORPO's odds-ratio term (arXiv 2403.07691).

Definitions follow TRL's `DPOTrainer.dpo_loss` (<= 0.28), `CPOTrainer` (loss_type="simpo") and
`ORPOTrainer.odds_ratio_loss`. With rewards r± = l± - l±_ref and Delta = r+ - r-:

    dpo sigmoid  -(1-eps) log s(beta*Delta) - eps log s(-beta*Delta)
    dpo robust   [-(1-eps) log s(beta*Delta) + eps log s(-beta*Delta)] / (1 - 2 eps)
    dpo hinge    max(0, 1 - beta*Delta)
    dpo ipo      (Delta - 1/(2 beta))^2        (IPO expects length-averaged log-probs)
    simpo        -(1-eps) log s(beta*(s+ - s-) - gamma) - eps log s(-(beta*(s+ - s-) - gamma))
    orpo         -beta log s(log_odds),  log_odds = (s+ - s-) - [log(1 - e^{s+}) - log(1 - e^{s-})]

Rewards are detached (logging only), as in TRL.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import as_fp32, check_choice, check_positive, check_scores

DPO_LOSS_TYPES = ("sigmoid", "robust", "hinge", "ipo")


def _check_smoothing(label_smoothing: float, *, strict_half: bool) -> None:
    ok = 0.0 <= label_smoothing < 0.5 if strict_half else 0.0 <= label_smoothing <= 0.5
    if not ok:
        bound = "[0, 0.5)" if strict_half else "[0, 0.5]"
        raise ValueError(f"label_smoothing must be in {bound}, got {label_smoothing!r}")


def dpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    *,
    beta: float = 0.1,
    loss_type: str = "sigmoid",
    label_smoothing: float = 0.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """DPO per-pair losses [B] and detached rewards beta*(l - l_ref) for chosen and rejected."""
    check_scores(
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
        ref_chosen_logps=ref_chosen_logps,
        ref_rejected_logps=ref_rejected_logps,
    )
    check_choice("loss_type", loss_type, DPO_LOSS_TYPES)
    check_positive("beta", beta)
    _check_smoothing(label_smoothing, strict_half=loss_type == "robust")
    chosen_ratio = as_fp32(policy_chosen_logps) - as_fp32(ref_chosen_logps)
    rejected_ratio = as_fp32(policy_rejected_logps) - as_fp32(ref_rejected_logps)
    delta = chosen_ratio - rejected_ratio
    eps = label_smoothing
    if loss_type == "sigmoid":
        losses = -(1 - eps) * F.logsigmoid(beta * delta) - eps * F.logsigmoid(-beta * delta)
    elif loss_type == "robust":
        losses = (-(1 - eps) * F.logsigmoid(beta * delta) + eps * F.logsigmoid(-beta * delta)) / (1 - 2 * eps)
    elif loss_type == "hinge":
        losses = F.relu(1.0 - beta * delta)
    else:
        losses = (delta - 1.0 / (2.0 * beta)).square()
    return losses, beta * chosen_ratio.detach(), beta * rejected_ratio.detach()


def simpo_loss(
    chosen_logps: Tensor,
    rejected_logps: Tensor,
    *,
    beta: float = 2.0,
    gamma: float = 0.5,
    label_smoothing: float = 0.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """SimPO per-pair losses [B] on mean log-probs, and detached rewards beta*s+ and beta*s-."""
    check_scores(chosen_logps=chosen_logps, rejected_logps=rejected_logps)
    check_positive("beta", beta)
    _check_smoothing(label_smoothing, strict_half=False)
    chosen, rejected = as_fp32(chosen_logps), as_fp32(rejected_logps)
    z = beta * (chosen - rejected) - gamma
    losses = -(1 - label_smoothing) * F.logsigmoid(z) - label_smoothing * F.logsigmoid(-z)
    return losses, beta * chosen.detach(), beta * rejected.detach()


def log1mexp(x: Tensor) -> Tensor:
    """log(1 - e^x) for x <= 0, stable on both sides of -ln 2 (Maechler 2012)."""
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def orpo_log_odds(chosen_logps: Tensor, rejected_logps: Tensor) -> Tensor:
    """log odds(y+) - log odds(y-) from mean log-probs, odds(y) = P / (1 - P), P = e^s."""
    check_scores(chosen_logps=chosen_logps, rejected_logps=rejected_logps)
    chosen, rejected = as_fp32(chosen_logps), as_fp32(rejected_logps)
    if bool((chosen > 0).any() | (rejected > 0).any()):
        raise ValueError("ORPO inputs are mean log-probs and must be <= 0; got a positive value")
    return (chosen - rejected) - (log1mexp(chosen) - log1mexp(rejected))


def orpo_loss(chosen_logps: Tensor, rejected_logps: Tensor, *, beta: float = 0.1) -> Tensor:
    """ORPO's odds-ratio term -beta * log sigmoid(log_odds) per pair [B] (the full loss adds NLL+)."""
    check_positive("beta", beta)
    return -beta * F.logsigmoid(orpo_log_odds(chosen_logps, rejected_logps))
