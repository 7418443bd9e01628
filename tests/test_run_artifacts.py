"""A run without loggers still writes its artifacts (config.yaml, tokenizer.json, checkpoints) to its run folder."""

import os
from pathlib import Path

import yaml

from litlab.shared.cli import main

LM = {
    "model": {"class_path": "LanguageModel", "init_args": {"backbone": {"dim": 32, "num_layers": 1, "num_heads": 2,
              "head_dim": 16, "pattern": "L"}, "sample_tokens": 4}},
    "data": {"class_path": "TextDataModule", "init_args": {"bpe_vocab_size": 300, "seq_len": 32, "batch_size": 2,
             "max_documents": 20}},
    "trainer": {"max_steps": 1, "limit_val_batches": 1, "accelerator": "cpu", "enable_progress_bar": False},
}  # fmt: skip


def test_logger_false_keeps_artifacts_in_the_run_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny-lm.yaml").write_text(yaml.safe_dump(LM))
    main(["fit", "--config", "tiny-lm.yaml", "--trainer.logger=false"])
    assert set(os.listdir(tmp_path)) <= {"runs", "tiny-lm.yaml", "data"}  # data/: the corpus cache, by design
    run = tmp_path / "runs" / "tiny-lm" / "version_0"
    assert (run / "config.yaml").is_file() and (run / "tokenizer.json").is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()
