"""Reading TRL-format preference files (JSONL, parquet, or a `datasets.save_to_disk` folder) and sorting
rows into usable ones and malformed ones, counted by reason (a file with no usable row is an error).

Standard rows: {"prompt": str, "chosen": str, "rejected": str}; conversational rows: {"prompt": [messages],
"chosen": [assistant messages], "rejected": [...]}, a message being {"role": str, "content": str}.
Optional flags `chosen_terminated` / `rejected_terminated` (default true) mark run-on answers that must not
get an EOS. Other keys pass through untouched. Implicit-prompt rows (only `chosen`/`rejected`, each
holding the prompt) are split at their shared prefix first, as TRL does (`trl_conventions`).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from .trl_conventions import fill_implicit_prompt

FIELDS = ("prompt", "chosen", "rejected")


def read_rows(path: str | Path) -> tuple[list, Counter]:
    """Raw rows of one file or folder, plus a Counter of unreadable lines (`invalid_json`)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"preference data {str(p)!r} does not exist")
    bad: Counter = Counter()
    if p.is_dir():
        from datasets import load_from_disk

        try:
            return list(load_from_disk(str(p))), bad
        except Exception as err:
            raise ValueError(f"{str(p)!r} is not a datasets.save_to_disk folder: {err}") from err
    if p.suffix == ".parquet":
        from datasets import Dataset

        try:
            return list(Dataset.from_parquet(str(p))), bad
        except Exception as err:
            raise ValueError(f"{str(p)!r} could not be read as parquet: {err}") from err
    if p.suffix not in (".jsonl", ".json"):
        raise ValueError(f"preference data {str(p)!r}: expected .jsonl, .parquet or a save_to_disk folder")
    rows = []
    with open(p) as f:
        for line in f:
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                bad["invalid_json"] += 1
    return rows, bad


def _is_messages(value) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in value)
    )  # fmt: skip


def row_problem(row) -> str | None:
    """Why a row is unusable (a short reason), or None if it is a usable standard/conversational row."""
    if not isinstance(row, dict):
        return "not_an_object"
    fill_implicit_prompt(row)  # TRL: only chosen/rejected -> their shared prefix is the prompt (in place)
    for key in FIELDS:
        if key not in row or row[key] is None:
            return f"missing_{key}"
    kinds = {"str" if isinstance(row[k], str) else "messages" if _is_messages(row[k]) else "bad" for k in FIELDS}
    if "bad" in kinds:
        return "bad_field_type"
    if len(kinds) > 1:
        return "mixed_standard_and_conversational"
    if kinds == {"str"} and (not row["chosen"] or not row["rejected"]):
        return "empty_completion"
    if kinds == {"str"} and not row["prompt"]:
        return "empty_prompt"
    for flag in ("chosen_terminated", "rejected_terminated"):
        if flag in row and row[flag] is not None and not isinstance(row[flag], bool):
            return f"bad_{flag}"
    return None


def checked_rows(paths: list, problem) -> tuple[list[dict], Counter]:
    """The rows of every path for which ``problem(row)`` is None, and a Counter of the others by the reason
    it returned (unreadable lines included, by ``read_rows``'s reasons)."""
    good, bad = [], Counter()
    for path in paths:
        rows, unreadable = read_rows(path)
        bad.update(unreadable)
        for row in rows:
            reason = problem(row)
            if reason is None:
                good.append(row)
            else:
                bad[reason] += 1
    return good, bad


def load_preference_rows(paths: str | list[str]) -> tuple[list[dict], Counter]:
    """Usable rows of all paths and a Counter of malformed ones by reason; raises if none is usable."""
    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    if not paths:
        raise ValueError("no preference data path given")
    good, bad = checked_rows(paths, row_problem)
    if not good:
        raise ValueError(f"no usable preference row in {[str(p) for p in paths]}; malformed rows: {dict(bad)}")
    return good, bad


def is_conversational(row: dict) -> bool:
    return isinstance(row["prompt"], list)
