"""Evaluation of offline RL agents: batched rollouts, a Lightning callback, IQM with bootstrap CIs."""

from litlab.rl.eval.callback import OfflineEvalCallback
from litlab.rl.eval.rollout import evaluate_episodes
from litlab.rl.eval.stats import iqm, iqm_bootstrap_ci

__all__ = ["OfflineEvalCallback", "evaluate_episodes", "iqm", "iqm_bootstrap_ci"]
