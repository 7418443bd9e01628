"""`PreferenceDataModule`: TRL-format preference data (or the embedded synthetic task) for Lightning.

`litlab test` reads the held-out test pairs (`test_files`; synthetic: test.jsonl) and the test prompts for
generation metrics (`test_eval_files`; synthetic: test_id / test_ood); `litlab predict` reads `predict_file`
(JSONL rows with a "prompt" field, or one prompt per text line) and generates up to `max_new_tokens`.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader

from litlab.alignment.data.collate import PreferenceCollator
from litlab.alignment.data.encode import PreferenceEncoder
from litlab.alignment.data.files import load_preference_rows, read_rows
from litlab.alignment.data.synthetic import ArithmeticTask, task_files
from litlab.alignment.data.tokenizer import load_tokenizer, tokenizer_ids, train_task_tokenizer
from litlab.shared.results import read_prompts


class PreferenceDataModule(L.LightningDataModule):
    """Preference pairs as 2B-row batches (see `PreferenceCollator`); SFT uses the chosen rows only.

    Without `train_files` the synthetic addition task is generated into `data_dir` (with its tokenizer).
    """

    def __init__(
        self,
        train_files: list[str] | None = None,
        val_files: list[str] | None = None,
        eval_files: dict[str, str] | None = None,
        tokenizer: str | None = None,
        data_dir: str = "data/alignment/arith",
        task: ArithmeticTask | None = None,
        batch_size: int = 16,
        max_length: int = 128,
        max_prompt_length: int | None = None,
        truncation_mode: str = "keep_end",
        drop_truncated: bool = True,
        chat_template: str | None = None,
        eos_tokens: list[str] | None = None,
        pad_token: str | None = None,
        chosen_only: bool = False,
        num_workers: int = 0,
        test_files: list[str] | None = None,
        test_eval_files: dict[str, str] | None = None,
        predict_file: str | None = None,
        max_new_tokens: int = 64,
        convention: str = "trl",
    ) -> None:
        """
        Args:
            train_files: JSONL / parquet files or save_to_disk folders (None: the synthetic task).
            val_files: validation files (synthetic: its val split; None with train_files: no validation).
            eval_files: {name: file of {"prompt", "answer"} rows} for generation metrics
                (synthetic: {"id": eval_id.jsonl, "ood": eval_ood.jsonl}).
            tokenizer: local tokenizer folder (a HF model folder works); None: the synthetic task's own.
            data_dir: where the synthetic task and its tokenizer are written.
            task: settings of the synthetic task.
            batch_size: preference pairs per batch (2 x batch_size rows).
            max_length: longest prompt + completion in tokens.
            max_prompt_length: prompts are truncated to this many tokens first (None, the default as in TRL: no
                limit; a system prompt is never cut from its start unasked).
            truncation_mode: keep_end (keep the prompt's last tokens) or keep_start.
            drop_truncated: drop pairs whose completion does not fit (else cut, without EOS).
            chat_template: Jinja chat template for conversational rows (default: the tokenizer's).
            eos_tokens: extra end-of-turn tokens that count as EOS (e.g. "<|im_end|>").
            pad_token: an existing token to pad with if the tokenizer has no pad token (must not be EOS).
            chosen_only: emit only the chosen rows (supervised fine-tuning on chosen answers).
            num_workers: DataLoader workers.
            test_files: held-out preference files for `litlab test` (synthetic: its test split).
            test_eval_files: {name: file of {"prompt", "answer"} rows} for the test's generation metrics
                (synthetic: {"id": test_id.jsonl, "ood": test_ood.jsonl}).
            predict_file: prompts for `litlab predict` (JSONL rows with "prompt", or one prompt per line).
            max_new_tokens: tokens generated per prompt by `litlab predict` (greedy).
            convention: "trl" (TRL's DPOTrainer tokens and labels: one prompt/completion boundary for both sides,
                conversational turns labelled whole with no EOS added) or "litlab" (each side split at its own
                boundary, labels ending at the end-of-turn token, an EOS added where a turn has none).
        """
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if train_files is not None and tokenizer is None:
            raise ValueError("train_files need a tokenizer folder (tokenizer=...); only the synthetic task has its own")
        self.save_hyperparameters()
        self.task = task if task is not None else ArithmeticTask()
        self.tokenizer = None
        self.report: dict[str, dict] = {}
        self.train_set = self.val_set = self.test_set = None

    # -- files ---------------------------------------------------------------------------------------
    def _synthetic_files(self) -> dict[str, Path]:
        root = Path(self.hparams.data_dir)
        paths = task_files(self.task, root)  # refuses a folder generated with other settings
        if not (root / "tokenizer" / "tokenizer.json").exists():
            texts = [r["prompt"] + r.get("chosen", "") + r.get("rejected", "") for p in paths.values()
                     for r in read_rows(p)[0]]  # fmt: skip
            train_task_tokenizer(texts, root / "tokenizer")
        return paths

    def _resolve(self) -> tuple[list, list, dict, str, list, dict]:
        hp = self.hparams
        if hp.train_files is not None:
            return (list(hp.train_files), list(hp.val_files or []), dict(hp.eval_files or {}), hp.tokenizer,
                    list(hp.test_files or []), dict(hp.test_eval_files or {}))  # fmt: skip
        paths = self._synthetic_files()
        evals = hp.eval_files or {"id": str(paths["eval_id"]), "ood": str(paths["eval_ood"])}
        val = list(hp.val_files) if hp.val_files is not None else [str(paths["val"])]
        tok = hp.tokenizer or str(Path(hp.data_dir) / "tokenizer")
        test = list(hp.test_files) if hp.test_files is not None else [str(paths["test"])]
        test_evals = hp.test_eval_files or {"id": str(paths["test_id"]), "ood": str(paths["test_ood"])}
        return [str(paths["train"])], val, evals, tok, test, test_evals

    # -- tokenizer -----------------------------------------------------------------------------------
    def _load_tokenizer(self, folder: str) -> None:
        tok = load_tokenizer(folder)
        eos, pad = tokenizer_ids(tok, folder, self.hparams.pad_token, self.hparams.eos_tokens)
        self.tokenizer, self.eos_ids, self.pad_id = tok, eos, pad

    # -- encoding ------------------------------------------------------------------------------------
    def _encode(self, name: str, files: list[str]):
        from datasets import Dataset

        hp = self.hparams
        rows, malformed = load_preference_rows(files)
        encoder = PreferenceEncoder(
            self.tokenizer, self.eos_ids, max_length=hp.max_length, max_prompt_length=hp.max_prompt_length,
            truncation_mode=hp.truncation_mode, drop_truncated=hp.drop_truncated, chat_template=hp.chat_template,
            convention=hp.convention,
        )  # fmt: skip
        kept, dropped = [], Counter()
        for row in rows:
            out = encoder.encode(row)
            if isinstance(out, str):
                dropped[out] += 1
            else:
                kept.append({"chosen": vars(out[0]), "rejected": vars(out[1])})
        self.report[name] = dict(usable=len(kept), malformed=dict(malformed), dropped=dict(dropped),
                                 events=dict(encoder.stats))  # fmt: skip
        if malformed or dropped:
            warnings.warn(f"{name} data {files}: {self.report[name]}", stacklevel=2)
        if not kept:
            raise ValueError(f"{name} data {files}: no pair survived encoding: {self.report[name]}")
        return Dataset.from_list(kept)

    def setup(self, stage: str | None = None) -> None:
        """Tokenizer and prompts once; the pairs a stage needs (fit: train + val, test: test, predict: none)."""
        if self.tokenizer is None:
            train, val, evals, tok_folder, test, test_evals = self._files = self._resolve()
            self._load_tokenizer(tok_folder)
            self.collator = PreferenceCollator(self.pad_id, self.eos_ids, chosen_only=self.hparams.chosen_only)
            self.eval_prompts = {k: [r for r in read_rows(v)[0] if "prompt" in r] for k, v in evals.items()}
            self.test_prompts = {k: [r for r in read_rows(v)[0] if "prompt" in r] for k, v in test_evals.items()}
        train, val, _, _, test, _ = self._files
        if stage in (None, "fit") and self.train_set is None:
            self.train_set = self._encode("train", train)
        if stage in (None, "fit", "validate") and val and self.val_set is None:
            self.val_set = self._encode("val", val)
        if stage in (None, "test") and test and self.test_set is None:
            self.test_set = self._encode("test", test)

    def _loader(self, dataset, shuffle: bool) -> DataLoader:
        return DataLoader(dataset, batch_size=self.hparams.batch_size, shuffle=shuffle, collate_fn=self.collator,
                          num_workers=self.hparams.num_workers)  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return [] if self.val_set is None else self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        if self.test_set is None:
            raise ValueError("PreferenceDataModule has no test data: give test_files (held-out preference files; "
                             "the synthetic task has its own test split)")  # fmt: skip
        return self._loader(self.test_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        """One prompt string per batch (prompts differ in length)."""
        if self.hparams.predict_file is None:
            raise ValueError("PreferenceDataModule.predict_file is not set: give --data.init_args.predict_file="
                             "PROMPTS (JSONL rows with a 'prompt' field, or one prompt per text line)")  # fmt: skip
        return DataLoader(read_prompts(self.hparams.predict_file), batch_size=None)
