"""The synthetic task's folder is never regenerated over: other settings, or files without task.json, refuse."""

import json

import pytest

from litlab.alignment.data.synthetic import ArithmeticTask, main, task_files

SMALL = dict(n_train=6, n_val=2, n_eval=2, n_test=3)


def test_same_settings_reuse_the_files_and_keep_hand_edits(tmp_path):
    paths = task_files(ArithmeticTask(**SMALL), tmp_path)
    assert set(paths) == {"train", "val", "eval_id", "eval_ood", "test", "test_id", "test_ood"}
    assert len(paths["test"].read_text().splitlines()) == 3
    with open(paths["train"], "a") as f:
        f.write(json.dumps({"prompt": "hand", "chosen": "a", "rejected": "b"}) + "\n")
    edited = paths["train"].read_text()
    task_files(ArithmeticTask(**SMALL), tmp_path)
    assert paths["train"].read_text() == edited


def test_other_settings_are_refused_naming_the_keys(tmp_path):
    task_files(ArithmeticTask(**SMALL), tmp_path)
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match=r"other settings: n_train=6 \(asked 7\), seed=0 \(asked 1\)"):
        task_files(ArithmeticTask(**{**SMALL, "n_train": 7, "seed": 1}), tmp_path)
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before  # nothing rewritten


def test_split_files_without_task_json_are_refused(tmp_path):
    (tmp_path / "train.jsonl").write_text("{}\n")
    with pytest.raises(ValueError, match=r"holds \['train.jsonl'\] but no task.json"):
        task_files(ArithmeticTask(**SMALL), tmp_path)
    assert (tmp_path / "train.jsonl").read_text() == "{}\n"


def test_a_missing_split_is_refused(tmp_path):
    task_files(ArithmeticTask(**SMALL), tmp_path)
    (tmp_path / "test_ood.jsonl").unlink()
    with pytest.raises(ValueError, match=r"\['test_ood.jsonl'\] are missing"):
        task_files(ArithmeticTask(**SMALL), tmp_path)


def test_test_split_leaves_the_earlier_splits_unchanged(tmp_path):
    a = task_files(ArithmeticTask(**SMALL), tmp_path / "a")
    b = task_files(ArithmeticTask(**{**SMALL, "n_test": 5}), tmp_path / "b")
    for split in ("train", "val", "eval_id", "eval_ood"):
        assert a[split].read_text() == b[split].read_text()
    train_prompts = {json.loads(line)["prompt"] for line in a["train"].read_text().splitlines()}
    assert len(train_prompts) == 6


def test_command_refuses_other_settings(tmp_path):
    main(["--out", str(tmp_path), "--n-train", "5"])
    with pytest.raises(ValueError, match="n_train=5 \\(asked 6\\)"):
        main(["--out", str(tmp_path), "--n-train", "6"])
