"""Preference data: TRL-format files, diff-method tokenization, collation, the synthetic task."""

from .collate import IGNORE, PreferenceCollator
from .encode import EncodedSide, PreferenceEncoder
from .files import load_preference_rows, row_problem
from .synthetic import ArithmeticTask, extract_answer, is_correct
from .tokenizer import load_tokenizer, train_task_tokenizer

__all__ = [
    "IGNORE",
    "ArithmeticTask",
    "EncodedSide",
    "PreferenceCollator",
    "PreferenceEncoder",
    "extract_answer",
    "is_correct",
    "load_preference_rows",
    "load_tokenizer",
    "row_problem",
    "train_task_tokenizer",
]
