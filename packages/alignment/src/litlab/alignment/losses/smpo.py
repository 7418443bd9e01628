"""SMPO: the Vikhr models' reference-free preference loss, original and modified forms.

No SMPO paper exists; the reference is VikhrModels/effective_llm_alignment (original math at 45735ab,
modified config surface at 8eaac79 / c48ca29) and the Vikhr report (arXiv 2405.13929). Scores are
per-sequence MEAN token log-probs s+ and s-; with u = (s+ - s-) - m the preference term is

    smooth_lower_bound   max(0, -beta*u)^2             (zero once the margin is met)
    smooth_double_bound  max(0, -beta*u)^2 + max(0, beta*(u - delta))^2
    ipo                  (beta*u)^2
    hinge                max(0, -beta*u)               (the modified hinge)
    hinge_unit           max(0, 1 - beta*u)            (the original, 45735ab, hinge)
    sigmoid              -log sigmoid(beta*u)

The modified form transforms the token log-probs before the means (`smpo_average_logps`): flip the
rejected EOS, winsorize rejected tokens below a pooled quantile, optionally winsorize chosen tokens above
one, floor rejected tokens. Upstream's implementation of these steps writes into copies made by boolean
indexing and slices a flattened token vector, so it never acts; here every step is an out-of-place
`torch.where` on [N, T] tensors selected by row flags, and each is tested to act (see the README).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import as_fp32, check_choice, check_fraction, check_positive, check_scores

SMPO_LOSS_TYPES = ("smooth_lower_bound", "smooth_double_bound", "ipo", "hinge", "hinge_unit", "sigmoid")
_TORCH_QUANTILE_MAX = 16_000_000  # torch.quantile refuses larger inputs


def smpo_loss(
    chosen_logps: Tensor,
    rejected_logps: Tensor,
    *,
    beta: float = 1.2,
    margin: float | Tensor = 0.35,
    loss_type: str = "smooth_lower_bound",
    delta: float = 0.2,
) -> Tensor:
    """Per-pair SMPO preference loss [B] from mean token log-probs [B] (see the module docstring)."""
    check_scores(chosen_logps=chosen_logps, rejected_logps=rejected_logps)
    check_choice("loss_type", loss_type, SMPO_LOSS_TYPES)
    check_positive("beta", beta)
    if loss_type == "smooth_double_bound":
        check_positive("delta", delta)
    u = (as_fp32(chosen_logps) - as_fp32(rejected_logps)) - margin
    if loss_type == "smooth_lower_bound":
        return F.relu(-beta * u).square()
    if loss_type == "smooth_double_bound":
        return F.relu(-beta * u).square() + F.relu(beta * (u - delta)).square()
    if loss_type == "ipo":
        return (beta * u).square()
    if loss_type == "hinge":
        return F.relu(-beta * u)
    if loss_type == "hinge_unit":
        return F.relu(1.0 - beta * u)
    return -F.logsigmoid(beta * u)


def pooled_quantile(values: Tensor, q: float) -> Tensor:
    """Linear-interpolation quantile of a 1-D tensor (torch.quantile semantics, any size), detached."""
    values = values.detach()
    if values.numel() <= _TORCH_QUANTILE_MAX:
        return torch.quantile(values, q)
    ordered = values.sort().values
    pos = q * (ordered.numel() - 1)
    lo, hi = int(pos // 1), min(int(pos // 1) + 1, ordered.numel() - 1)
    return ordered[lo] + (pos - lo) * (ordered[hi] - ordered[lo])


def _check_token_inputs(token_logps: Tensor, completion_mask: Tensor, eos_mask: Tensor, is_rejected: Tensor):
    if token_logps.ndim != 2 or not token_logps.is_floating_point():
        raise ValueError(
            f"token_logps must be a floating [N, T] tensor, got {token_logps.dtype} {tuple(token_logps.shape)}"
        )
    for name, mask in (("completion_mask", completion_mask), ("eos_mask", eos_mask)):
        if mask.dtype != torch.bool or mask.shape != token_logps.shape:
            raise ValueError(
                f"{name} must be a bool tensor of token_logps' shape {tuple(token_logps.shape)}, "
                f"got {mask.dtype} {tuple(mask.shape)}"
            )
    if is_rejected.dtype != torch.bool or is_rejected.shape != token_logps.shape[:1]:
        raise ValueError(
            f"is_rejected must be a bool [N={token_logps.shape[0]}] tensor, "
            f"got {is_rejected.dtype} {tuple(is_rejected.shape)}"
        )
    if bool((eos_mask & ~completion_mask).any()):
        raise ValueError("eos_mask marks positions outside completion_mask (EOS labels are completion tokens)")
    empty = (completion_mask.sum(1) == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"rows {empty} have no completion token (|C| = 0): their mean log-prob is undefined")
    if bool(token_logps.detach()[completion_mask].isnan().any()):
        raise ValueError("token_logps has NaN at completion positions")


def smpo_transform_tokens(
    token_logps: Tensor,
    completion_mask: Tensor,
    eos_mask: Tensor,
    is_rejected: Tensor,
    *,
    eos_rejected_coef: float | None = -1.0,
    lower_clip_percentile: float | None = 0.02,
    upper_clip_percentile: float | None = None,
    min_log_prob: float | None = -2.3,
) -> tuple[Tensor, dict[str, Tensor]]:
    """The modified-SMPO token transforms, in order; returns (l~ [N, T], statistics).

    l~ is zero off the completion. Clipped tokens are replaced by a detached constant, so they carry no
    gradient. The statistics (q_lo, q_hi and the clipped-token counts) are detached and meant for logging.
    """
    _check_token_inputs(token_logps, completion_mask, eos_mask, is_rejected)
    check_fraction("lower_clip_percentile", lower_clip_percentile)
    check_fraction("upper_clip_percentile", upper_clip_percentile)
    x = as_fp32(token_logps)
    rejected_tok = completion_mask & is_rejected[:, None]
    chosen_tok = completion_mask & ~is_rejected[:, None]
    out = torch.where(completion_mask, x, torch.zeros_like(x))
    zero = out.new_zeros(())
    stats = {"n_clipped_low": zero, "n_clipped_high": zero, "n_floored": zero}
    if eos_rejected_coef is not None and eos_rejected_coef != 1.0:  # (1) EOS on rejected rows
        out = torch.where(rejected_tok & eos_mask, out * eos_rejected_coef, out)
    if lower_clip_percentile is not None and bool(rejected_tok.any()):  # (2) pooled lower winsorization
        q_lo = pooled_quantile(out[rejected_tok], lower_clip_percentile)
        low = rejected_tok & (out < q_lo)
        out = torch.where(low, q_lo, out)
        stats.update(q_lo=q_lo, n_clipped_low=low.sum().to(out.dtype))
    if upper_clip_percentile is not None and bool(chosen_tok.any()):  # (3) pooled upper winsorization
        q_hi = pooled_quantile(out[chosen_tok], upper_clip_percentile)
        high = chosen_tok & (out > q_hi)
        out = torch.where(high, q_hi, out)
        stats.update(q_hi=q_hi, n_clipped_high=high.sum().to(out.dtype))
    if min_log_prob is not None:  # (4) floor on rejected tokens
        floor = out.new_tensor(float(min_log_prob))
        floored = rejected_tok & (out < floor)
        out = torch.where(floored, floor, out)
        stats.update(n_floored=floored.sum().to(out.dtype))
    return out, stats


def smpo_average_logps(
    token_logps: Tensor,
    completion_mask: Tensor,
    eos_mask: Tensor,
    is_rejected: Tensor,
    *,
    eos_rejected_coef: float | None = -1.0,
    lower_clip_percentile: float | None = 0.02,
    upper_clip_percentile: float | None = None,
    min_log_prob: float | None = -2.3,
) -> Tensor:
    """Per-row mean of the transformed token log-probs [N] (denominators = raw completion counts).

    Args:
        token_logps: [N, T] per-token log-probs (any float dtype; the math runs in fp32 or float64).
        completion_mask: [N, T] bool, the completion label positions (terminating EOS included).
        eos_mask: [N, T] bool, completion positions whose label is an EOS id.
        is_rejected: [N] bool, which rows are rejected answers.
        eos_rejected_coef: factor on rejected EOS log-probs (-1 flip, 0 drop, 1 or None plain).
        lower_clip_percentile: p_lo; rejected tokens below the pooled rejected p_lo-quantile are raised to it.
        upper_clip_percentile: p_hi; chosen tokens above the pooled chosen p_hi-quantile are lowered to it.
        min_log_prob: floor for rejected tokens (after the winsorization).
    """
    out, _ = smpo_transform_tokens(
        token_logps,
        completion_mask,
        eos_mask,
        is_rejected,
        eos_rejected_coef=eos_rejected_coef,
        lower_clip_percentile=lower_clip_percentile,
        upper_clip_percentile=upper_clip_percentile,
        min_log_prob=min_log_prob,
    )
    return out.sum(-1) / completion_mask.sum(-1).to(out.dtype)
