"""GRPO prompt data: files of {"prompt": ..., <verifier columns>} rows, and the embedded reasoning task.

Files are JSONL, parquet or `datasets.save_to_disk` folders. A row needs a non-empty `prompt` (a string, or
a list of {"role", "content"} messages for a chat template) and, when `answer_field` is set, a non-empty
gold answer; a GSM8K-style answer ("... #### 72") becomes its text after `####` (the full text stays under
`solution`). Every other key passes through to the reward functions by name. Malformed rows are counted
by reason; a file with no usable row is an error.

The embedded task is the addition task of `litlab.alignment.data.synthetic` with a reasoning format:
    <reasoning>\\n7+5=12\\n4+8+1=13\\n</reasoning>\\n<answer>\\n132\\n</answer>
(column-wise sums from the right, carries added). train/val rows are preference rows too (`chosen` = the
correct worked answer, `rejected` = the same with one wrong digit in the final answer), so the SFT and
SMPO recipes can start the SFT -> SMPO -> GRPO pipeline on it; test.jsonl holds held-out prompts; the task's
BPE tokenizer is trained into tokenizer/.

    python -m litlab.alignment.data.prompts --out data/alignment/arith-reasoning
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from .files import _is_messages, checked_rows, read_rows
from .synthetic import ID_TEMPLATES, ArithmeticTask, _operand, _wrong
from .tokenizer import train_task_tokenizer


def column_steps(a: int, b: int) -> list[str]:
    """Column-wise addition from the right: '7+5=12', '4+8+1=13' for 47 + 85."""
    da, db, carry, steps = str(a)[::-1], str(b)[::-1], 0, []
    for i in range(max(len(da), len(db))):
        x, y = int(da[i]) if i < len(da) else 0, int(db[i]) if i < len(db) else 0
        total = x + y + carry
        steps.append(f"{x}+{y}" + (f"+{carry}" if carry else "") + f"={total}")
        carry = total // 10
    return steps


def reasoning_answer(a: int, b: int, value: int | None = None) -> str:
    """The worked completion of a + b (its final answer replaced by value when given)."""
    value = a + b if value is None else value
    return "<reasoning>\n" + "\n".join(column_steps(a, b)) + f"\n</reasoning>\n<answer>\n{value}\n</answer>"


def reasoning_row(rng: random.Random, task: ArithmeticTask, with_pair: bool) -> dict:
    a, b = _operand(rng, task.id_digits), _operand(rng, task.id_digits)
    row = {"prompt": rng.choice(ID_TEMPLATES).format(a=a, b=b) + "\n", "answer": str(a + b)}
    if with_pair:
        row["chosen"] = reasoning_answer(a, b)
        row["rejected"] = reasoning_answer(a, b, _wrong(rng, a + b))
    return row


def write_reasoning_task(task: ArithmeticTask, out_dir: str | Path) -> dict[str, Path]:
    """Write train/val (preference + answer rows), test (prompts + answers) and task.json; returns the paths."""
    rng, out = random.Random(task.seed), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sizes = {"train": (task.n_train, True), "val": (task.n_val, True), "test": (task.n_eval, False)}
    paths = {}
    for split, (n, pair) in sizes.items():
        paths[split] = out / f"{split}.jsonl"
        with open(paths[split], "w") as f:
            f.writelines(json.dumps(reasoning_row(rng, task, pair)) + "\n" for _ in range(n))
    (out / "task.json").write_text(json.dumps({"format": "reasoning", **asdict(task)}, indent=1))
    return paths


def ensure_reasoning_task(task: ArithmeticTask, root: str | Path) -> dict[str, Path]:
    """The embedded task's files in root (rewritten when task.json differs) and its tokenizer (root/tokenizer)."""
    root = Path(root)
    spec = json.dumps({"format": "reasoning", **asdict(task)}, indent=1)
    if not (root / "task.json").exists() or (root / "task.json").read_text() != spec:
        write_reasoning_task(task, root)
    paths = {s: root / f"{s}.jsonl" for s in ("train", "val", "test")}
    if not (root / "tokenizer" / "tokenizer.json").exists():
        texts = [r["prompt"] + r.get("chosen", "") + r.get("rejected", "") for p in paths.values()
                 for r in read_rows(p)[0]]  # fmt: skip
        train_task_tokenizer(texts, root / "tokenizer")
    return paths


def prompt_problem(row, answer_field: str | None) -> str | None:
    """Why a prompt row is unusable, or None."""
    if not isinstance(row, dict):
        return "not_an_object"
    prompt = row.get("prompt")
    if prompt is None:
        return "missing_prompt"
    if not (isinstance(prompt, str) and prompt.strip()) and not _is_messages(prompt):
        return "bad_prompt"
    if answer_field is not None:
        gold = row.get(answer_field)
        if gold is None or not str(gold).strip():
            return f"missing_{answer_field}"
        if "####" in str(gold) and not str(gold).rsplit("####", 1)[1].strip():
            return f"empty_{answer_field}_after_####"
    return None


def load_prompt_rows(paths: list[str], answer_field: str | None = "answer") -> tuple[list[dict], Counter]:
    """Usable rows of all paths (GSM8K answers reduced to their #### part) and malformed counts by reason."""
    if not paths:
        raise ValueError("no prompt data path given")
    good, bad = checked_rows(paths, lambda row: prompt_problem(row, answer_field))
    good = [dict(row) for row in good]
    for row in good:
        if answer_field is not None and "####" in str(row[answer_field]):
            row["solution"] = row[answer_field]
            row[answer_field] = str(row[answer_field]).rsplit("####", 1)[1].strip()
    if not good:
        raise ValueError(f"no usable prompt row in {[str(p) for p in paths]}: each row needs a non-empty 'prompt' "
                         f"(string or messages){f' and {answer_field!r}' if answer_field else ''}; "
                         f"malformed rows: {dict(bad)}")  # fmt: skip
    return good, bad


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-train", type=int, default=4000)
    p.add_argument("--n-test", type=int, default=200)
    args = p.parse_args(argv)
    task = ArithmeticTask(seed=args.seed, n_train=args.n_train, n_eval=args.n_test)
    for split, path in ensure_reasoning_task(task, args.out).items():
        print(f"{split:6s} {path}")
    print(f"tokenizer {Path(args.out) / 'tokenizer'}")


if __name__ == "__main__":
    main()
