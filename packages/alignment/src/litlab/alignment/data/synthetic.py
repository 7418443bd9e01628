"""A verifiable synthetic preference task (integer addition) written as TRL-format JSONL (spec §10.3).

Prompts ask for a + b; answers are `<answer>{a+b}</answer>`. Chosen = the correct answer (the data module
appends EOS). Rejected = (a) a wrong answer of the same length (EOS appended: `rejected_terminated`
true) or (c) the correct answer followed by repetitions of itself and NO EOS (`rejected_terminated`
false), with probability `degenerate_fraction` (0: the EOS-stress condition; > 0: the mixed condition).
Evaluation prompts carry the gold `answer`: ID prompts use the training operand lengths and templates,
OOD prompts use operands `ood_digits` long and paraphrased instructions.

    python -m litlab.alignment.data.synthetic --out data/arith      # writes the files listed in `write`
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

    def __post_init__(self) -> None:
        self.id_digits, self.ood_digits = tuple(self.id_digits), tuple(self.ood_digits)
        for name in ("id_digits", "ood_digits"):
            lo, hi = getattr(self, name)
            if not 1 <= lo <= hi:
                raise ValueError(f"ArithmeticTask.{name} must be (lo, hi) with 1 <= lo <= hi, got {(lo, hi)}")
        if not 0.0 <= self.degenerate_fraction <= 1.0:
            raise ValueError(f"ArithmeticTask.degenerate_fraction must be in [0, 1], got {self.degenerate_fraction}")
        if min(self.n_train, self.n_val, self.n_eval) < 1 or self.max_repeats < 2:
            raise ValueError("ArithmeticTask: n_train, n_val, n_eval must be >= 1 and max_repeats >= 2")


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
    return {
        "train": [make_pair(rng, task) for _ in range(task.n_train)],
        "val": [make_pair(rng, task) for _ in range(task.n_val)],
        "eval_id": [make_eval_prompt(rng, task, ood=False) for _ in range(task.n_eval)],
        "eval_ood": [make_eval_prompt(rng, task, ood=True) for _ in range(task.n_eval)],
    }


def write(task: ArithmeticTask, out_dir: str | Path) -> dict[str, Path]:
    """Write train/val/eval_id/eval_ood .jsonl and task.json into out_dir; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, rows in generate(task).items():
        paths[split] = out / f"{split}.jsonl"
        with open(paths[split], "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    (out / "task.json").write_text(json.dumps(asdict(task), indent=1))
    return paths


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-train", type=int, default=4000)
    p.add_argument("--degenerate-fraction", type=float, default=0.5)
    args = p.parse_args(argv)
    task = ArithmeticTask(seed=args.seed, n_train=args.n_train, degenerate_fraction=args.degenerate_fraction)
    for split, path in write(task, args.out).items():
        print(f"{split:9s} {path}")


if __name__ == "__main__":
    main()
