"""A verifiable synthetic preference task (integer addition) written as TRL-format JSONL.

Prompts ask for a + b; answers are `<answer>{a+b}</answer>`. Chosen = the correct answer (the data module
appends EOS). Rejected = (a) a wrong answer of the same length (EOS appended: `rejected_terminated`
true) or (c) the correct answer followed by repetitions of itself and NO EOS (`rejected_terminated`
false), with probability `degenerate_fraction` (0: the EOS-stress condition; > 0: the mixed condition).
Evaluation prompts carry the gold `answer`: ID prompts use the training operand lengths and templates,
OOD prompts use operands `ood_digits` long and paraphrased instructions. The test split (test.jsonl pairs,
test_id / test_ood prompts, `n_test` each) is drawn after the others from the same generator, so it never
overlaps them by construction of the stream and leaves the earlier splits as they were.

    python -m litlab.alignment.data.synthetic --out data/arith      # writes the files listed in `write`
    python -m litlab.alignment.data.synthetic --out data/arith --conversational   # + train/val/test_chat.jsonl

`--conversational` also writes the preference splits as TRL conversational rows (`*_chat.jsonl`: the prompt
one user message, each answer one assistant message, the litlab flags kept), for chat-template training.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path

ID_TEMPLATES = ("What is {a} + {b}?", "Add {a} and {b}.", "Compute {a} plus {b}.")
OOD_TEMPLATES = ("Please find the sum of {a} and {b}.", "Tell me the total of {a} and {b}.", "{a} + {b} = ?")
ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.S)


@dataclass
class ArithmeticTask:
    """Sizes and knobs of the synthetic addition task."""

    seed: int = 0
    """Random seed of the generator."""
    n_train: int = 4000
    """Preference pairs in train.jsonl."""
    n_val: int = 200
    """Preference pairs in val.jsonl."""
    n_eval: int = 200
    """Prompts in eval_id.jsonl and in eval_ood.jsonl."""
    id_digits: tuple[int, int] = (1, 2)
    """Operand length range (digits) of training and ID prompts."""
    ood_digits: tuple[int, int] = (4, 5)
    """Operand length range of OOD prompts (2-3x the ID length)."""
    degenerate_fraction: float = 0.5
    """Share of rejected answers that are the right answer repeated with no EOS (0 = EOS-stress)."""
    max_repeats: int = 4
    """Degenerate answers repeat the answer 2..max_repeats times."""
    n_test: int = 200
    """Preference pairs in test.jsonl and prompts in test_id.jsonl and test_ood.jsonl (`litlab test`)."""

    def __post_init__(self) -> None:
        self.id_digits, self.ood_digits = tuple(self.id_digits), tuple(self.ood_digits)
        for name in ("id_digits", "ood_digits"):
            lo, hi = getattr(self, name)
            if not 1 <= lo <= hi:
                raise ValueError(f"ArithmeticTask.{name} must be (lo, hi) with 1 <= lo <= hi, got {(lo, hi)}")
        if not 0.0 <= self.degenerate_fraction <= 1.0:
            raise ValueError(f"ArithmeticTask.degenerate_fraction must be in [0, 1], got {self.degenerate_fraction}")
        if min(self.n_train, self.n_val, self.n_eval, self.n_test) < 1 or self.max_repeats < 2:
            raise ValueError("ArithmeticTask: n_train, n_val, n_eval, n_test must be >= 1 and max_repeats >= 2")


def answer_text(value: int) -> str:
    return f"<answer>{value}</answer>"


def extract_answer(text: str) -> str | None:
    """The last <answer>...</answer> of a completion, stripped (None if there is none)."""
    found = ANSWER_RE.findall(text)
    return found[-1].strip() if found else None


def is_correct(text: str, gold: str | int) -> bool:
    """Verifier: the last tagged answer equals the gold integer."""
    got = extract_answer(text)
    return got is not None and got.replace(",", "") == str(gold)


def _operand(rng: random.Random, digits: tuple[int, int]) -> int:
    n = rng.randint(*digits)
    return rng.randint(10 ** (n - 1) if n > 1 else 0, 10**n - 1)


def _wrong(rng: random.Random, value: int) -> int:
    """A wrong answer with as many digits as the right one (one digit changed)."""
    text = str(value)
    while True:
        i = rng.randrange(len(text))
        digit = str(rng.randrange(1 if i == 0 and len(text) > 1 else 0, 10))
        wrong = text[:i] + digit + text[i + 1 :]
        if wrong != text:
            return int(wrong)


def make_pair(rng: random.Random, task: ArithmeticTask) -> dict:
    a, b = _operand(rng, task.id_digits), _operand(rng, task.id_digits)
    row = {"prompt": rng.choice(ID_TEMPLATES).format(a=a, b=b) + "\n", "chosen": answer_text(a + b)}
    if rng.random() < task.degenerate_fraction:
        row["rejected"] = answer_text(a + b) * rng.randint(2, task.max_repeats)
        row["rejected_terminated"] = False
        row["rejected_kind"] = "degenerate"
    else:
        row["rejected"] = answer_text(_wrong(rng, a + b))
        row["rejected_kind"] = "wrong"
    row["answer"] = str(a + b)
    return row


def make_eval_prompt(rng: random.Random, task: ArithmeticTask, ood: bool) -> dict:
    digits, templates = (task.ood_digits, OOD_TEMPLATES) if ood else (task.id_digits, ID_TEMPLATES)
    a, b = _operand(rng, digits), _operand(rng, digits)
    return {"prompt": rng.choice(templates).format(a=a, b=b) + "\n", "answer": str(a + b)}


def generate(task: ArithmeticTask) -> dict[str, list[dict]]:
    """All splits as lists of rows (deterministic in task.seed)."""
    rng = random.Random(task.seed)
    splits = {
        "train": [make_pair(rng, task) for _ in range(task.n_train)],
        "val": [make_pair(rng, task) for _ in range(task.n_val)],
        "eval_id": [make_eval_prompt(rng, task, ood=False) for _ in range(task.n_eval)],
        "eval_ood": [make_eval_prompt(rng, task, ood=True) for _ in range(task.n_eval)],
    }
    splits["test"] = [make_pair(rng, task) for _ in range(task.n_test)]
    splits["test_id"] = [make_eval_prompt(rng, task, ood=False) for _ in range(task.n_test)]
    splits["test_ood"] = [make_eval_prompt(rng, task, ood=True) for _ in range(task.n_test)]
    return splits


def write(task: ArithmeticTask, out_dir: str | Path) -> dict[str, Path]:
    """Write train/val/eval_id/eval_ood/test/test_id/test_ood .jsonl and task.json into out_dir; returns the paths.

    Each file is written to a temporary name and renamed, task.json last, so an interrupted write leaves no
    task.json claiming files that are not all there.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, rows in generate(task).items():
        paths[split] = out / f"{split}.jsonl"
        with open(paths[split].with_suffix(".jsonl.tmp"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        paths[split].with_suffix(".jsonl.tmp").replace(paths[split])
    (out / "task.json.tmp").write_text(json.dumps(asdict(task), indent=1))
    (out / "task.json.tmp").replace(out / "task.json")
    return paths


def task_files(task: ArithmeticTask, out_dir: str | Path) -> dict[str, Path]:
    """The task's files in out_dir, written there first if the folder holds no task yet.

    Never overwrites: a folder whose task.json records other settings, or that holds split files without a
    task.json, or misses some of the files its task.json promises, raises a ValueError naming the folder and
    the differing settings (use another folder per setting, or delete the old one).
    """
    out = Path(out_dir)
    names = [f"{s}.jsonl" for s in ("train", "val", "eval_id", "eval_ood", "test", "test_id", "test_ood")]
    spec, record = asdict(task), out / "task.json"
    if not record.exists():
        present = [n for n in names if (out / n).exists()]
        if present:
            raise ValueError(f"synthetic task folder {str(out)!r} holds {present} but no task.json: refusing to "
                             "overwrite them; choose another data_dir or delete the folder")  # fmt: skip
        return write(task, out)
    try:
        stored = json.loads(record.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"synthetic task folder {str(out)!r}: task.json is not JSON ({exc})") from None
    stored = {k: (tuple(v) if isinstance(v, list) else v) for k, v in stored.items()}
    differ = sorted(k for k in set(spec) | set(stored) if spec.get(k, "<unset>") != stored.get(k, "<unset>"))
    if differ:
        found = ", ".join(f"{k}={stored.get(k, '<unset>')!r} (asked {spec.get(k, '<unset>')!r})" for k in differ)
        raise ValueError(f"synthetic task folder {str(out)!r} was generated with other settings: {found}; "
                         "refusing to regenerate over it: choose another data_dir for these settings "
                         "or delete the folder")  # fmt: skip
    missing = [n for n in names if not (out / n).exists()]
    if missing:
        raise ValueError(f"synthetic task folder {str(out)!r}: task.json is there but {missing} are missing; "
                         "delete the folder to regenerate it")  # fmt: skip
    return {n.removesuffix(".jsonl"): out / n for n in names}


def conversational_row(row: dict) -> dict:
    """A standard preference row as a TRL conversational one (user prompt, assistant answers); other keys kept."""
    out = dict(row)
    out["prompt"] = [{"role": "user", "content": row["prompt"].rstrip("\n")}]
    for side in ("chosen", "rejected"):
        out[side] = [{"role": "assistant", "content": row[side]}]
    return out


def write_conversational(paths: dict[str, Path]) -> dict[str, Path]:
    """Write `<split>_chat.jsonl` beside the train / val / test preference files; returns the new paths."""
    written = {}
    for split in ("train", "val", "test"):
        src = paths[split]
        written[f"{split}_chat"] = dst = src.with_name(f"{split}_chat.jsonl")
        rows = [conversational_row(json.loads(line)) for line in open(src) if line.strip()]
        dst.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return written


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-train", type=int, default=4000)
    p.add_argument("--degenerate-fraction", type=float, default=0.5)
    p.add_argument("--conversational", action="store_true", help="also write train/val/test_chat.jsonl")
    args = p.parse_args(argv)
    task = ArithmeticTask(seed=args.seed, n_train=args.n_train, degenerate_fraction=args.degenerate_fraction)
    paths = task_files(task, args.out)
    if args.conversational:
        paths |= write_conversational(paths)
    for split, path in paths.items():
        print(f"{split:10s} {path}")


if __name__ == "__main__":
    main()
