"""PreferenceDataModule / encoder / collator: masks, EOS once, pad != eos, truncation, formats, bad files."""

import json

import pytest
import torch

from litlab.alignment.data import PreferenceCollator, PreferenceEncoder
from litlab.alignment.lit import PreferenceDataModule

CHAT = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return str(path)


def module(tmp_path, task_dir, rows, **kw):
    dm = PreferenceDataModule(
        train_files=[write_jsonl(tmp_path / "train.jsonl", rows)], tokenizer=str(task_dir / "tokenizer"), **kw
    )
    dm.setup("fit")
    return dm


def decode_rows(dm, batch):
    tok = dm.tokenizer
    out = []
    for r in range(batch["input_ids"].shape[0]):
        labels = batch["targets"][r][batch["completion_mask"][r]]
        out.append((tok.decode(batch["input_ids"][r][batch["attention_mask"][r].bool()]), tok.decode(labels)))
    return out


def test_standard_rows_mask_prompt_and_append_eos_once(tmp_path, task_dir):
    rows = [
        {"prompt": "What is 2 + 3?\n", "chosen": "<answer>5</answer>", "rejected": "<answer>6</answer>"},
        {"prompt": "Add 1 and 1.\n", "chosen": "<answer>2</answer><|endoftext|>",  # EOS already last
         "rejected": "<answer>2</answer><answer>2</answer>", "rejected_terminated": False},
    ]  # fmt: skip
    dm = module(tmp_path, task_dir, rows, batch_size=2)
    batch = dm.collator([dm.train_set[0], dm.train_set[1]])
    texts = decode_rows(dm, batch)
    eos = "<|endoftext|>"
    assert texts[0] == ("What is 2 + 3?\n<answer>5</answer>" + eos, "<answer>5</answer>" + eos)
    assert texts[1] == ("Add 1 and 1.\n<answer>2</answer>" + eos, "<answer>2</answer>" + eos)  # no second EOS
    assert texts[3][1] == "<answer>2</answer><answer>2</answer>"  # run-on rejected: no EOS label
    assert batch["eos_mask"].sum(1).tolist() == [1, 1, 1, 0]
    assert batch["is_rejected"].tolist() == [False, False, True, True]
    assert batch["pair_index"].tolist() == [0, 1, 0, 1]
    # padding: distinct id, never labelled, attention mask from lengths
    pad = batch["attention_mask"] == 0
    assert pad.any() and (batch["input_ids"][pad] == dm.pad_id).all() and dm.pad_id not in dm.eos_ids
    assert not batch["completion_mask"][pad].any()
    # targets are shifted: the label at t is the token at t + 1
    r, t = batch["completion_mask"].nonzero()[0].tolist()
    assert batch["targets"][r, t] == batch["input_ids"][r, t + 1]


def test_pad_equal_to_eos_is_refused(tmp_path, task_dir):
    rows = [{"prompt": "a\n", "chosen": "b", "rejected": "c"}]
    with pytest.raises(ValueError, match="padding must differ from EOS"):
        module(tmp_path, task_dir, rows, pad_token="<|endoftext|>")
    with pytest.raises(ValueError, match="padding must differ"):
        PreferenceCollator(pad_id=1, eos_ids={1})


def test_truncation_policy(tokenizer):
    eos = {tokenizer.eos_token_id}
    row = {"prompt": "What is 12 + 34?\n", "chosen": "<answer>46</answer>", "rejected": "<answer>47</answer>"}
    n_prompt = len(tokenizer(row["prompt"], add_special_tokens=False)["input_ids"])
    n_comp = len(tokenizer(row["chosen"], add_special_tokens=False)["input_ids"]) + 1
    enc = lambda **kw: PreferenceEncoder(tokenizer, eos, **kw)
    keep_end = enc(max_length=64, max_prompt_length=3).encode(row)[0]
    keep_start = enc(max_length=64, max_prompt_length=3, truncation_mode="keep_start").encode(row)[0]
    prompt_ids = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
    assert keep_end.input_ids[:3] == prompt_ids[-3:] and keep_start.input_ids[:3] == prompt_ids[:3]
    assert enc(max_length=n_prompt, max_prompt_length=None).encode(row) == "prompt_fills_max_length"
    short = n_prompt + n_comp - 2
    assert enc(max_length=short, max_prompt_length=None).encode(row) == "completion_truncated"
    kept = enc(max_length=short, max_prompt_length=None, drop_truncated=False).encode(row)[0]
    assert len(kept.input_ids) == short and kept.input_ids[-1] not in eos  # a cut completion gets no EOS
    with pytest.raises(ValueError, match="truncation_mode"):
        enc(max_length=64, max_prompt_length=3, truncation_mode="middle")


def test_conversational_rows_with_chat_template(tmp_path, task_dir):
    rows = [{
        "prompt": [{"role": "user", "content": "What is 2 + 3?"}],
        "chosen": [{"role": "assistant", "content": "<answer>5</answer>"}],
        "rejected": [{"role": "assistant", "content": "<answer>6</answer>"}],
    }]  # fmt: skip
    with pytest.raises(ValueError, match="chat template"):
        module(tmp_path, task_dir, rows)
    dm = module(tmp_path, task_dir, rows, chat_template=CHAT, eos_tokens=["<|im_end|>"], convention="litlab")
    batch = dm.collator([dm.train_set[0]])
    full, labels = decode_rows(dm, batch)[0]
    assert full == "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n<answer>5</answer><|im_end|>\n"
    assert labels == "<answer>5</answer><|im_end|>"  # litlab: ends at the end-of-turn; the "\n" after it unlabelled
    trl = module(tmp_path, task_dir, rows, chat_template=CHAT, eos_tokens=["<|im_end|>"])
    assert decode_rows(trl, trl.collator([trl.train_set[0]]))[0] == (full, "<answer>5</answer><|im_end|>\n")  # TRL
    assert batch["eos_mask"].sum().item() == 2


def test_malformed_rows_are_counted_and_an_empty_file_is_an_error(tmp_path, task_dir):
    good = {"prompt": "What is 1 + 1?\n", "chosen": "<answer>2</answer>", "rejected": "<answer>3</answer>"}
    rows = [good, "{not json", {"prompt": "x"}, {**good, "chosen": 5}, {**good, "chosen": ""}, [1, 2],
            {**good, "prompt": [{"role": "user", "content": "hi"}]}]  # fmt: skip
    with pytest.warns(UserWarning, match="malformed"):
        dm = module(tmp_path, task_dir, rows)
    assert dm.report["train"]["usable"] == 1
    assert dm.report["train"]["malformed"] == {
        "invalid_json": 1, "missing_chosen": 1, "bad_field_type": 1, "empty_completion": 1, "not_an_object": 1,
        "mixed_standard_and_conversational": 1,
    }  # fmt: skip
    with pytest.raises(ValueError, match="no usable preference row"):
        module(tmp_path, task_dir, rows[1:])
    with pytest.raises(FileNotFoundError):
        PreferenceDataModule(train_files=[str(tmp_path / "nope.jsonl")], tokenizer=str(task_dir / "tokenizer")).setup()
    with pytest.raises(ValueError, match="expected .jsonl"):
        (tmp_path / "x.csv").write_text("a,b\n")
        PreferenceDataModule(train_files=[str(tmp_path / "x.csv")], tokenizer=str(task_dir / "tokenizer")).setup()
    with pytest.raises(ValueError, match="need a tokenizer"):
        PreferenceDataModule(train_files=[str(tmp_path / "train.jsonl")])


def test_parquet_and_save_to_disk(tmp_path, task_dir):
    from datasets import Dataset

    rows = [{"prompt": f"What is {i} + 1?\n", "chosen": f"<answer>{i + 1}</answer>", "rejected": "<answer>0</answer>"}
            for i in range(1, 4)]  # fmt: skip
    Dataset.from_list(rows).to_parquet(str(tmp_path / "d.parquet"))
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "disk"))
    for path in (tmp_path / "d.parquet", tmp_path / "disk"):
        dm = PreferenceDataModule(train_files=[str(path)], tokenizer=str(task_dir / "tokenizer"), batch_size=3)
        dm.setup("fit")
        batch = next(iter(dm.train_dataloader()))
        assert batch["input_ids"].shape[0] == 6 and dm.report["train"]["usable"] == 3


def test_synthetic_default_and_chosen_only(tmp_path):
    from litlab.alignment.data import ArithmeticTask

    dm = PreferenceDataModule(data_dir=str(tmp_path / "arith"), task=ArithmeticTask(n_train=16, n_val=4, n_eval=3),
                              chosen_only=True, batch_size=4)  # fmt: skip
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["input_ids"].shape[0] == 4 and not batch["is_rejected"].any()
    assert set(dm.eval_prompts) == {"id", "ood"} and len(dm.eval_prompts["ood"]) == 3
    assert (batch["eos_mask"].sum(1) == 1).all()
    assert torch.equal(batch["completion_mask"], batch["targets"] != -100)
