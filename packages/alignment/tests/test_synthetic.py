"""The synthetic addition task and the generation metrics."""

import random

import pytest

from litlab.alignment.data.synthetic import ArithmeticTask, extract_answer, generate, is_correct, make_pair
from litlab.alignment.lit.generation import completion_metrics, cut_at_eos, ngram_stats


def test_pairs_are_verifiable():
    task = ArithmeticTask(n_train=200, n_val=1, n_eval=50, degenerate_fraction=0.5)
    splits = generate(task)
    kinds = {r["rejected_kind"] for r in splits["train"]}
    assert kinds == {"wrong", "degenerate"}
    for r in splits["train"]:
        assert is_correct(r["chosen"], r["answer"])
        if r["rejected_kind"] == "wrong":
            got = extract_answer(r["rejected"])
            assert got != r["answer"] and len(got) == len(r["answer"]) and "rejected_terminated" not in r
        else:
            assert r["rejected_terminated"] is False and r["rejected"].count("<answer>") >= 2
            assert r["rejected"].startswith(r["chosen"])
    id_len = max(len(a) for r in splits["eval_id"] for a in r["prompt"].split() if a.strip("?.").isdigit())
    ood_min = min(
        len(a.strip("?.")) for r in splits["eval_ood"] for a in r["prompt"].split() if a.strip("?.").isdigit()
    )
    assert ood_min >= 4 > id_len - 1


def test_eos_stress_has_no_degenerate_and_generation_is_deterministic():
    task = ArithmeticTask(n_train=50, degenerate_fraction=0.0)
    assert all(r["rejected_kind"] == "wrong" for r in generate(task)["train"])
    assert generate(task) == generate(task)
    assert make_pair(random.Random(1), task) == make_pair(random.Random(1), task)


def test_verifier_and_metrics():
    assert is_correct("<answer>12</answer>", "12") and not is_correct("<answer>13</answer>", 12)
    assert is_correct("<answer>1</answer> <answer>1,234</answer>", "1234")  # the last answer counts
    assert extract_answer("no tags") is None
    assert cut_at_eos([5, 6, 9, 7], {9}) == ([5, 6], True) and cut_at_eos([5], {9}) == ([5], False)
    assert ngram_stats([1, 2, 3, 4] * 3) == (True, 4 / 9)  # 4-grams: 9 of them, 4 distinct, one seen 3x
    assert ngram_stats([1, 2, 3]) == (False, 1.0)
    decode = lambda ids: "".join(map(chr, ids))
    m = completion_metrics([ord(c) for c in "<answer>7</answer>"] + [0], {0}, "7", decode)
    # 15 character 4-grams; "answ", "nswe", "swer", "wer>" occur twice -> 11 distinct
    assert m == dict(eos_rate=1.0, repetition_rate=0.0, distinct4=11 / 15, accuracy=1.0, length=18.0)
    m = completion_metrics([ord(c) for c in "<answer>7</answer>"], {0}, "7", decode)
    assert m["accuracy"] == 0.0 and m["eos_rate"] == 0.0  # not terminated: counted wrong


def test_evaluate_prompts_groups_by_length_and_averages(tokenizer):
    """A scripted policy: answers right for prompts of even length, runs on (no EOS) for odd ones."""
    import torch

    from litlab.alignment.lit.generation import evaluate_prompts
    from litlab.alignment.models import PolicyAdapter

    rows = [{"prompt": "What is 1 + 2?\n", "answer": "3"}, {"prompt": "Add 10 and 20.\n", "answer": "30"},
            {"prompt": "What is 4 + 4?\n", "answer": "8"}]  # fmt: skip
    seen = []

    class Scripted(PolicyAdapter):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def generate(self, input_ids, max_new_tokens, temperature, eos_ids, generator=None):
            seen.append(tuple(input_ids.shape))
            out = []
            for ids in input_ids.tolist():
                prompt = tokenizer.decode(ids)
                row = next(r for r in rows if r["prompt"] == prompt)
                text = f"<answer>{row['answer']}</answer>"
                new = tokenizer(text, add_special_tokens=False)["input_ids"]
                new = new + [eos_ids[0]] if len(ids) % 2 == 0 else (new * 10)[:max_new_tokens]
                out.append(new + [eos_ids[0]] * (max_new_tokens - len(new)))
            return torch.tensor(out)

    lengths = [len(tokenizer(r["prompt"], add_special_tokens=False)["input_ids"]) for r in rows]
    metrics = evaluate_prompts(Scripted(), tokenizer, {tokenizer.eos_token_id}, rows)
    even = sum(n % 2 == 0 for n in lengths) / 3
    assert metrics["eos_rate"] == metrics["accuracy"] == even
    assert metrics["repetition_rate"] == pytest.approx(1 - even)  # the run-on answers repeat their 4-grams
    assert sorted(n for _, n in seen) == sorted(set(lengths))  # one batch per prompt length
