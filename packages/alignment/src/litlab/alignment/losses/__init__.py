"""Pure preference losses (log-probs and masks in, never a model) and the objectives built on them."""

from .baselines import DPO_LOSS_TYPES, dpo_loss, log1mexp, orpo_log_odds, orpo_loss, simpo_loss
from .grpo import GRPO_LOSS_TYPES, grpo_advantages, grpo_loss
from .objectives import DPO, ORPO, SMPO, PreferenceObjective, SimPO
from .smpo import SMPO_LOSS_TYPES, pooled_quantile, smpo_average_logps, smpo_loss, smpo_transform_tokens
from .tokens import eos_probes, pair_rows, pooled_nll, sequence_scores

__all__ = [
    "DPO",
    "DPO_LOSS_TYPES",
    "GRPO_LOSS_TYPES",
    "ORPO",
    "SMPO",
    "SMPO_LOSS_TYPES",
    "PreferenceObjective",
    "SimPO",
    "dpo_loss",
    "eos_probes",
    "grpo_advantages",
    "grpo_loss",
    "log1mexp",
    "orpo_log_odds",
    "orpo_loss",
    "pair_rows",
    "pooled_nll",
    "pooled_quantile",
    "sequence_scores",
    "simpo_loss",
    "smpo_average_logps",
    "smpo_loss",
    "smpo_transform_tokens",
]
