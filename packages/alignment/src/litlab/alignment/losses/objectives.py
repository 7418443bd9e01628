"""Preference objectives: token log-probs and masks of a preference batch in, (loss, info) out.

Each objective is a plain configurable class (inject it with `class_path: SMPO` etc.). Losses are the
pure functions of `smpo.py` and `baselines.py`; this module only reduces tokens to sequence scores, adds
the SFT terms and collects what gets logged. All math runs in fp32 (or float64 if given).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from ._checks import as_fp32, check_choice
from .baselines import DPO_LOSS_TYPES, dpo_loss, orpo_log_odds, orpo_loss, simpo_loss
from .smpo import SMPO_LOSS_TYPES, smpo_loss, smpo_transform_tokens
from .tokens import eos_probes, pair_rows, pooled_nll, sequence_scores


class PreferenceObjective:
    """Base class. Subclasses set `needs_reference` and implement `pair_losses`."""

    needs_reference: bool = False

    def __call__(
        self,
        logps: Tensor,
        batch: Mapping[str, Tensor],
        ref_logps: Tensor | None = None,
        progress: float = 1.0,
        with_info: bool = True,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """logps / ref_logps: [2B, T] label log-probs (0 off-label); batch: completion_mask, eos_mask,
        is_rejected, pair_index. progress in [0, 1] is the training progress k/K (margin schedules).
        with_info=False returns (loss, {}) without the logging reductions (the same loss, fewer kernels)."""
        if self.needs_reference and ref_logps is None:
            raise ValueError(f"{type(self).__name__} needs reference log-probs (ref_logps), got None")
        logps = as_fp32(logps)
        mask, rej = batch["completion_mask"], batch["is_rejected"]
        c_idx, r_idx = pair_rows(rej, batch["pair_index"])
        nll_c = pooled_nll(logps, mask & ~rej[:, None])
        nll_r = pooled_nll(logps, mask & rej[:, None])
        loss, info = self.pair_losses(logps, batch, ref_logps, c_idx, r_idx, nll_c, nll_r, progress)
        if not with_info:
            return loss, {}
        raw = sequence_scores(logps, mask, average=True)
        rc, rr = info.pop("reward_chosen"), info.pop("reward_rejected")
        rejected_tokens = logps.detach()[mask & rej[:, None]]
        info.update(
            loss=loss.detach(),
            nll_chosen=nll_c.detach(),
            nll_rejected=nll_r.detach(),
            logps_chosen=raw[c_idx].detach().mean(),
            logps_rejected=raw[r_idx].detach().mean(),
            rewards_chosen=rc.mean(),
            rewards_rejected=rr.mean(),
            rewards_margin=(rc - rr).mean(),
            reward_accuracy=(rc > rr).float().mean(),
            min_logp_rejected=rejected_tokens.min() if rejected_tokens.numel() else logps.new_tensor(0.0),
            **eos_probes(logps, batch["eos_mask"], rej),
        )
        return loss, info

    def pair_losses(self, logps, batch, ref_logps, c_idx, r_idx, nll_c, nll_r, progress):
        raise NotImplementedError

    def gradient_groups(self, batch: Mapping[str, Tensor]) -> tuple[list[list[int]], list[int]]:
        """(groups, shared) for `fused_token_loss`: each row's gradient depends only on its pair's log-probs
        (pooled NLL terms are linear: their gradient does not depend on the values) and on the shared rows."""
        c_idx, r_idx = pair_rows(batch["is_rejected"], batch["pair_index"])
        return [[c, r] for c, r in zip(c_idx.tolist(), r_idx.tolist())], []


class SMPO(PreferenceObjective):
    """SMPO: mean_i l_pref((s+ - s-) - m) + lambda*NLL+ + (1 - lambda)*NLL- (NLL on raw log-probs).

    Defaults are the modified form (8eaac79); `configs/alignment/smpo.yaml` spells out the original one.
    """

    def __init__(
        self,
        beta: float = 1.2,
        margin: float = 0.35,
        loss_type: str = "smooth_lower_bound",
        delta: float = 0.2,
        chosen_sft_ratio: float = 0.8,
        eos_rejected_coef: float | None = -1.0,
        lower_clip_percentile: float | None = 0.02,
        upper_clip_percentile: float | None = None,
        min_log_prob: float | None = -2.3,
        margin_schedule: bool = False,
        margin_start: float = 0.01,
        sft_weight: float = 1.0,
    ) -> None:
        """
        Args:
            beta: scale of the margin term.
            margin: target margin m on mean log-probs (the final one if margin_schedule).
            loss_type: one of smooth_lower_bound, smooth_double_bound, ipo, hinge (max(0, -beta*u)),
                hinge_unit (the original max(0, 1 - beta*u)), sigmoid.
            delta: band width of smooth_double_bound.
            chosen_sft_ratio: lambda in lambda*NLL(chosen) + (1 - lambda)*NLL(rejected).
            eos_rejected_coef: factor on rejected EOS log-probs (-1 flip, 0 drop, 1/None plain).
            lower_clip_percentile: pooled rejected-token quantile to winsorize below (None: off).
            upper_clip_percentile: pooled chosen-token quantile to winsorize above (None: off).
            min_log_prob: floor on rejected token log-probs (None: off).
            margin_schedule: ramp the margin linearly from margin_start to margin over training.
            margin_start: the margin at step 0 when margin_schedule is on.
            sft_weight: factor on the whole SFT term (1: SMPO as published; 0: preference term only, an
                ablation).
        """
        check_choice("loss_type", loss_type, SMPO_LOSS_TYPES)
        if not sft_weight >= 0.0:
            raise ValueError(f"sft_weight must be >= 0, got {sft_weight!r}")
        self.sft_weight = float(sft_weight)
        if not 0.0 <= chosen_sft_ratio <= 1.0:
            raise ValueError(f"chosen_sft_ratio must be in [0, 1], got {chosen_sft_ratio!r}")
        self.beta, self.margin, self.loss_type, self.delta = beta, margin, loss_type, delta
        self.chosen_sft_ratio = chosen_sft_ratio
        self.transform = dict(
            eos_rejected_coef=eos_rejected_coef,
            lower_clip_percentile=lower_clip_percentile,
            upper_clip_percentile=upper_clip_percentile,
            min_log_prob=min_log_prob,
        )
        self.margin_schedule, self.margin_start = margin_schedule, margin_start

    def gradient_groups(self, batch: Mapping[str, Tensor]) -> tuple[list[list[int]], list[int]]:
        """Pairs; the pooled clipping quantiles make the rejected (lower) / chosen (upper) rows shared."""
        groups, _ = super().gradient_groups(batch)
        rej = batch["is_rejected"]
        shared = rej.clone() if self.transform["lower_clip_percentile"] is not None else torch.zeros_like(rej)
        if self.transform["upper_clip_percentile"] is not None:
            shared |= ~rej
        return groups, shared.nonzero().flatten().tolist()

    def current_margin(self, progress: float) -> float:
        if not self.margin_schedule:
            return self.margin
        return self.margin_start + (self.margin - self.margin_start) * min(max(progress, 0.0), 1.0)

    def pair_losses(self, logps, batch, ref_logps, c_idx, r_idx, nll_c, nll_r, progress):
        mask, rej = batch["completion_mask"], batch["is_rejected"]
        tokens, stats = smpo_transform_tokens(logps, mask, batch["eos_mask"], rej, **self.transform)
        scores = tokens.sum(-1) / mask.sum(-1).to(tokens.dtype)
        m = self.current_margin(progress)
        pref = smpo_loss(
            scores[c_idx], scores[r_idx], beta=self.beta, margin=m, loss_type=self.loss_type, delta=self.delta
        )
        lam = self.chosen_sft_ratio
        loss = pref.mean() + self.sft_weight * (lam * nll_c + (1.0 - lam) * nll_r)
        n_rej = (mask & rej[:, None]).sum().clamp_min(1)
        n_cho = (mask & ~rej[:, None]).sum().clamp_min(1)
        info = dict(
            loss_pref=pref.detach().mean(),
            margin_target=logps.new_tensor(m),
            logps_chosen_transformed=scores[c_idx].detach().mean(),
            logps_rejected_transformed=scores[r_idx].detach().mean(),
            frac_clipped_low=stats["n_clipped_low"] / n_rej,
            frac_floored=stats["n_floored"] / n_rej,
            frac_clipped_high=stats["n_clipped_high"] / n_cho,
            reward_chosen=self.beta * scores[c_idx].detach(),
            reward_rejected=self.beta * scores[r_idx].detach(),
        )
        if "q_lo" in stats:
            info["q_lo"] = stats["q_lo"]
        return loss, info


class DPO(PreferenceObjective):
    """DPO against a frozen reference; summed log-probs (mean for ipo); optional chosen NLL (RPO)."""

    needs_reference = True

    def __init__(
        self,
        beta: float = 0.1,
        loss_type: str = "sigmoid",
        label_smoothing: float = 0.0,
        nll_chosen_weight: float = 0.0,
    ) -> None:
        """
        Args:
            beta: inverse temperature on the log-ratio difference.
            loss_type: sigmoid (cDPO with label_smoothing), robust, hinge or ipo.
            label_smoothing: epsilon of cDPO / robust DPO.
            nll_chosen_weight: weight of the pooled chosen NLL added to the loss (RPO's alpha).
        """
        check_choice("loss_type", loss_type, DPO_LOSS_TYPES)
        self.beta, self.loss_type, self.label_smoothing = beta, loss_type, label_smoothing
        self.nll_chosen_weight = nll_chosen_weight

    def pair_losses(self, logps, batch, ref_logps, c_idx, r_idx, nll_c, nll_r, progress):
        mask, average = batch["completion_mask"], self.loss_type == "ipo"
        pol = sequence_scores(logps, mask, average=average)
        ref = sequence_scores(as_fp32(ref_logps).detach(), mask, average=average)
        pref, rc, rr = dpo_loss(
            pol[c_idx], pol[r_idx], ref[c_idx], ref[r_idx],
            beta=self.beta, loss_type=self.loss_type, label_smoothing=self.label_smoothing,
        )  # fmt: skip
        loss = pref.mean() + self.nll_chosen_weight * nll_c
        return loss, dict(loss_pref=pref.detach().mean(), reward_chosen=rc, reward_rejected=rr)


class SimPO(PreferenceObjective):
    """SimPO on mean log-probs (no reference); optional chosen NLL (CPO's alpha)."""

    def __init__(
        self,
        beta: float = 2.0,
        gamma: float = 0.5,
        label_smoothing: float = 0.0,
        nll_chosen_weight: float = 0.0,
    ) -> None:
        """
        Args:
            beta: scale of the mean log-prob difference.
            gamma: target reward margin.
            label_smoothing: epsilon (conservative SimPO).
            nll_chosen_weight: weight of the pooled chosen NLL added to the loss.
        """
        self.beta, self.gamma, self.label_smoothing = beta, gamma, label_smoothing
        self.nll_chosen_weight = nll_chosen_weight

    def pair_losses(self, logps, batch, ref_logps, c_idx, r_idx, nll_c, nll_r, progress):
        scores = sequence_scores(logps, batch["completion_mask"], average=True)
        pref, rc, rr = simpo_loss(
            scores[c_idx],
            scores[r_idx],
            beta=self.beta,
            gamma=self.gamma,
            label_smoothing=self.label_smoothing,
        )
        loss = pref.mean() + self.nll_chosen_weight * nll_c
        return loss, dict(loss_pref=pref.detach().mean(), reward_chosen=rc, reward_rejected=rr)


class ORPO(PreferenceObjective):
    """ORPO: NLL+ - beta * mean_i log sigmoid(log_odds_i), on mean log-probs."""

    def __init__(self, beta: float = 0.1) -> None:
        """
        Args:
            beta: weight (lambda in the paper) of the odds-ratio term.
        """
        self.beta = beta

    def pair_losses(self, logps, batch, ref_logps, c_idx, r_idx, nll_c, nll_r, progress):
        scores = sequence_scores(logps, batch["completion_mask"], average=True)
        pref = orpo_loss(scores[c_idx], scores[r_idx], beta=self.beta)
        log_odds = orpo_log_odds(scores[c_idx].detach(), scores[r_idx].detach())
        info = dict(
            loss_pref=pref.detach().mean(),
            log_odds=log_odds.mean(),
            reward_chosen=self.beta * scores[c_idx].detach(),
            reward_rejected=self.beta * scores[r_idx].detach(),
        )
        return nll_c + pref.mean(), info


__all__ = ["PreferenceObjective", "SMPO", "DPO", "SimPO", "ORPO"]
