"""Test-only helper shared by the cross-package alignment tests: a tiny synthetic arithmetic task folder."""

from __future__ import annotations

import json
from pathlib import Path


def write_arithmetic_task(root: Path, **sizes: int) -> Path:
    """The task's JSONL splits (sizes: n_train, n_val, n_eval, n_test) and a tokenizer trained on them."""
    from litlab.alignment.data.synthetic import ArithmeticTask, task_files
    from litlab.alignment.data.tokenizer import train_task_tokenizer

    paths = task_files(ArithmeticTask(**sizes), root)
    rows = [json.loads(line) for p in paths.values() for line in p.read_text().splitlines()]
    train_task_tokenizer([r["prompt"] + r.get("chosen", "") + r.get("rejected", "") for r in rows], root / "tokenizer")
    return root
