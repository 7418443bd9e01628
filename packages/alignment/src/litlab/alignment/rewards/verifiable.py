"""Verifiable rewards for GRPO: `fn(prompts, completions, **columns) -> list[float | None]`.

Completions are strings, or conversational lists of messages whose last `content` is the answer (TRL's
formats). Every function takes the extra dataset columns by name (`answer`, ...) and ignores the rest;
None means "not applicable" (e.g. no gold answer) and leaves the sample out of that function's mean.

- `accuracy_reward`: the last `<answer>...</answer>` block, stripped, thousands separators dropped, equals
  the gold answer: numerically when both parse as decimals (`18` == `18.0`), else as exact text. A GSM8K
  gold (`... #### 72`) is the text after the last `####`. Missing gold: None.
- `strict_format_reward`: the whole completion is `<reasoning>\\n...\\n</reasoning>\\n<answer>\\n...\\n</answer>`
  (one optional trailing newline).
- `soft_format_reward`: one reasoning block then one answer block, any whitespace between and around.
- `int_answer_reward`: the last answer is an integer. `tag_count_reward`: 0.125 per tag that occurs exactly
  once, minus 0.001 per character after the last `</answer>` (the GSM8K recipe reused by Unsloth's
  notebooks; weights there: accuracy 2.0, integer 0.5, strict 0.5, soft 0.5, tag count).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.S)
STRICT_RE = re.compile(
    r"<reasoning>\n(?:(?!</reasoning>).)*?\n</reasoning>\n" r"<answer>\n(?:(?!</answer>).)*?\n</answer>\n?", re.S
)
SOFT_RE = re.compile(
    r"\s*<reasoning>(?:(?!</reasoning>).)*</reasoning>\s*<answer>(?:(?!</answer>).)*</answer>\s*", re.S
)
THOUSANDS_RE = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
TAGS = ("<reasoning>", "</reasoning>", "<answer>", "</answer>")


def completion_text(completion) -> str:
    """The text of a completion: a string, or the last message's content of a conversational completion."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    raise TypeError(f"a completion must be a string or a list of messages, got {type(completion).__name__}")


def extract_answer(text: str) -> str | None:
    """The last <answer>...</answer> block, stripped (None if there is none)."""
    found = ANSWER_RE.findall(text)
    return found[-1].strip() if found else None


def gold_answer(gold) -> str | None:
    """Gold answer text: GSM8K's `####` suffix if present, stripped; None for a missing/empty gold."""
    if gold is None:
        return None
    text = str(gold)
    if "####" in text:
        text = text.rsplit("####", 1)[1]
    text = text.strip()
    return text or None


def normalize_number(text: str) -> Decimal | None:
    """A decimal number with thousands separators dropped ('1,234.5', '$18', '7.'), else None."""
    t = text.strip().lstrip("$").rstrip(".").strip()
    if THOUSANDS_RE.fullmatch(t):
        t = t.replace(",", "")
    try:
        value = Decimal(t)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def answers_match(got: str, gold: str) -> bool:
    a, b = normalize_number(got), normalize_number(gold)
    if a is not None and b is not None:
        return a == b
    return got == gold


def _columns(name: str, completions: list, column) -> list:
    if column is None:
        raise ValueError(f"{name} needs a gold-answer column `answer` in the prompt data")
    if len(column) != len(completions):
        raise ValueError(f"{name}: {len(completions)} completions but {len(column)} `answer` values")
    return list(column)


def accuracy_reward(prompts, completions, answer=None, **columns) -> list[float | None]:
    out: list[float | None] = []
    for completion, gold in zip(completions, _columns("accuracy_reward", completions, answer)):
        gold = gold_answer(gold)
        got = extract_answer(completion_text(completion))
        out.append(None if gold is None else float(got is not None and answers_match(got, gold)))
    return out


def strict_format_reward(prompts, completions, **columns) -> list[float | None]:
    return [float(STRICT_RE.fullmatch(completion_text(c)) is not None) for c in completions]


def soft_format_reward(prompts, completions, **columns) -> list[float | None]:
    return [float(SOFT_RE.fullmatch(completion_text(c)) is not None) for c in completions]


def int_answer_reward(prompts, completions, **columns) -> list[float | None]:
    out = []
    for c in completions:
        got = extract_answer(completion_text(c))
        out.append(float(got is not None and re.fullmatch(r"[-+]?\d+", got.replace(",", "")) is not None))
    return out


def tag_count_reward(prompts, completions, **columns) -> list[float | None]:
    out = []
    for c in completions:
        text = completion_text(c)
        score = sum(0.125 for tag in TAGS if text.count(tag) == 1)
        if "</answer>" in text:
            score -= 0.001 * len(text.rsplit("</answer>", 1)[1].strip())
        out.append(score)
    return out
