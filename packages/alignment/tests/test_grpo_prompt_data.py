"""GRPO prompt files: malformed rows are counted by reason, a file with no usable row is a clear error,
GSM8K `####` answers keep their solution, and PromptDataModule refuses what it cannot use before any step."""

import json

import pytest

from litlab.alignment import PromptDataModule
from litlab.alignment.data.prompts import ensure_reasoning_task, load_prompt_rows
from litlab.alignment.data.synthetic import ArithmeticTask

GOOD = {"prompt": "What is 2 + 3?\n", "answer": "5"}
MALFORMED = [
    '{"answer": "5"}',  # no prompt
    '{"prompt": "   ", "answer": "5"}',  # blank prompt
    '{"prompt": 7, "answer": "5"}',  # neither text nor messages
    '{"prompt": [{"role": "user"}], "answer": "5"}',  # messages without content
    '{"prompt": "What is 1 + 1?"}',  # no gold answer
    '{"prompt": "What is 1 + 1?", "answer": ""}',  # empty gold answer
    '{"prompt": "Sum?", "answer": "1 + 1 = 2 ####  "}',  # nothing after ####
    '["prompt", "answer"]',  # not an object
    '{"prompt": "What is 1 + 1?", "answer": ',  # broken JSON
]
REASONS = {"missing_prompt": 1, "bad_prompt": 3, "missing_answer": 2, "empty_answer_after_####": 1,
           "not_an_object": 1, "invalid_json": 1}  # fmt: skip


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("reasoning")
    ensure_reasoning_task(ArithmeticTask(n_train=16, n_val=4, n_eval=4), root)
    return str(root / "tokenizer")


def test_malformed_rows_are_counted_by_reason_and_good_rows_kept(tmp_path):
    gsm = {"prompt": "Tom has 1,200 apples ...", "answer": "He keeps 1,200 - 10 = 1,190.\n#### 1,190"}
    path = write_lines(tmp_path / "mixed.jsonl", [json.dumps(GOOD), *MALFORMED, json.dumps(gsm)])
    rows, bad = load_prompt_rows([str(path)])
    assert dict(bad) == REASONS
    assert [r["answer"] for r in rows] == ["5", "1,190"]
    assert rows[1]["solution"] == gsm["answer"] and "solution" not in rows[0]


def test_a_file_with_no_usable_row_is_a_clear_error(tmp_path):
    path = write_lines(tmp_path / "bad.jsonl", MALFORMED)
    with pytest.raises(ValueError, match="no usable prompt row") as err:
        load_prompt_rows([str(path)])
    message = str(err.value)
    assert "bad.jsonl" in message and "'answer'" in message
    for reason, count in REASONS.items():
        assert f"'{reason}': {count}" in message


def test_unreadable_files_are_refused_with_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.jsonl"):
        load_prompt_rows([str(tmp_path / "nowhere.jsonl")])
    csv = tmp_path / "prompts.csv"
    csv.write_text("prompt,answer\nWhat is 1 + 1?,2\n")
    with pytest.raises(ValueError, match=r"prompts\.csv.*expected \.jsonl, \.parquet or a save_to_disk folder"):
        load_prompt_rows([str(csv)])
    with pytest.raises(ValueError, match="no prompt data path"):
        load_prompt_rows([])
    empty = write_lines(tmp_path / "empty.jsonl", [""])
    with pytest.raises(ValueError, match="no usable prompt row.*empty.jsonl"):
        load_prompt_rows([str(empty)])


def test_answer_field_none_accepts_rows_without_gold(tmp_path):
    path = write_lines(tmp_path / "open.jsonl", ['{"prompt": "Tell a story."}', '{"answer": "5"}'])
    rows, bad = load_prompt_rows([str(path)], answer_field=None)
    assert [r["prompt"] for r in rows] == ["Tell a story."] and dict(bad) == {"missing_prompt": 1}


def test_data_module_refuses_malformed_files_at_setup(tmp_path, tokenizer_dir):
    bad = write_lines(tmp_path / "train.jsonl", MALFORMED)
    dm = PromptDataModule(train_files=[str(bad)], tokenizer=tokenizer_dir)
    with pytest.raises(ValueError, match="no usable prompt row.*train.jsonl"):
        dm.setup("fit")
    with pytest.raises(ValueError, match="train_files need a tokenizer"):
        PromptDataModule(train_files=[str(bad)])


def test_data_module_reports_and_warns_about_dropped_rows(tmp_path, tokenizer_dir):
    path = write_lines(tmp_path / "train.jsonl", [json.dumps(GOOD), *MALFORMED[:2]])
    dm = PromptDataModule(train_files=[str(path)], tokenizer=tokenizer_dir)
    with pytest.warns(UserWarning, match="train prompts"):
        dm.setup("fit")
    assert dm.report["train"] == {"usable": 1, "malformed": {"missing_prompt": 1, "bad_prompt": 1}, "events": {}}
    batch = next(iter(dm.train_dataloader()))
    assert batch["prompt"] == [GOOD["prompt"]] and batch["columns"]["answer"] == ["5"]
    assert batch["prompt_ids"][0] == dm.tokenizer(GOOD["prompt"], add_special_tokens=False)["input_ids"]


def test_generation_eval_budget_fits_worked_reasoning_answers(tokenizer_dir):
    """The SFT/preference generation eval gives 4x the reference completion (a row's worked `chosen`),
    not 4x the answer-only text, which cut reasoning completions short; max_new_tokens overrides it."""
    import torch

    from litlab.alignment.data.prompts import reasoning_answer
    from litlab.alignment.data.tokenizer import load_tokenizer
    from litlab.alignment.lit.generation import evaluate_prompts
    from litlab.alignment.models import PolicyAdapter

    tok = load_tokenizer(tokenizer_dir)
    worked = reasoning_answer(1234567, 7654321)  # seven worked columns
    budgets = []

    class Worked(PolicyAdapter):  # emits the worked answer + EOS within whatever budget it gets
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def generate(self, input_ids, max_new_tokens, temperature, eos_ids, generator=None):
            budgets.append(max_new_tokens)
            ids = (tok(worked, add_special_tokens=False)["input_ids"] + [eos_ids[0]])[:max_new_tokens]
            return torch.tensor([ids] * input_ids.shape[0])

    n = len(tok(worked, add_special_tokens=False)["input_ids"]) + 1
    row = {"prompt": "What is 1234567 + 7654321?\n", "answer": "8888888"}
    short = 4 * (len(tok("<answer>8888888</answer>", add_special_tokens=False)["input_ids"]) + 1)
    assert short < n  # the old budget could not hold this completion
    m = evaluate_prompts(Worked(), tok, {tok.eos_token_id}, [{**row, "chosen": worked}])
    assert budgets[-1] == 4 * n and m["accuracy"] == 1.0 and m["eos_rate"] == 1.0
    m = evaluate_prompts(Worked(), tok, {tok.eos_token_id}, [row])
    assert budgets[-1] == short and m["accuracy"] == 0.0 and m["eos_rate"] == 0.0
    m = evaluate_prompts(Worked(), tok, {tok.eos_token_id}, [row], max_new_tokens=n)
    assert budgets[-1] == n and m["accuracy"] == 1.0
    with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
        evaluate_prompts(Worked(), tok, {tok.eos_token_id}, [row], max_new_tokens=0)
