"""Verifiable reward functions for GRPO and their weighted combination."""

from .combine import REWARDS, compute_rewards, resolve_reward, resolve_rewards
from .verifiable import (
    accuracy_reward,
    answers_match,
    completion_text,
    extract_answer,
    gold_answer,
    int_answer_reward,
    normalize_number,
    soft_format_reward,
    strict_format_reward,
    tag_count_reward,
)

__all__ = [
    "REWARDS",
    "accuracy_reward",
    "answers_match",
    "completion_text",
    "compute_rewards",
    "extract_answer",
    "gold_answer",
    "int_answer_reward",
    "normalize_number",
    "resolve_reward",
    "resolve_rewards",
    "soft_format_reward",
    "strict_format_reward",
    "tag_count_reward",
]
