"""`PromptDataModule`: prompts with verifier columns for GRPO (files, or the embedded reasoning task).

Batches are dicts of lists: `prompt_ids` (token lists), `prompt` (the original prompts) and `columns`
({name: values}: every other key of the rows, e.g. the gold `answer`), one entry per prompt.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader

from litlab.alignment.data.prompts import ensure_reasoning_task, load_prompt_rows
from litlab.alignment.data.synthetic import ArithmeticTask
from litlab.alignment.data.tokenizer import load_tokenizer, tokenizer_ids


def collate_prompts(rows: list[dict]) -> dict:
    keys = sorted({k for r in rows for k in r} - {"prompt", "prompt_ids"})
    return {"prompt_ids": [r["prompt_ids"] for r in rows], "prompt": [r["prompt"] for r in rows],
            "columns": {k: [r.get(k) for r in rows] for k in keys}}  # fmt: skip


class PromptDataModule(L.LightningDataModule):
    """Prompts for GRPO; without `train_files` the embedded reasoning-format addition task is written to
    `data_dir` (train / val / test JSONL and its BPE tokenizer)."""

    def __init__(
        self,
        train_files: list[str] | None = None,
        val_files: list[str] | None = None,
        test_files: list[str] | None = None,
        tokenizer: str | None = None,
        data_dir: str = "data/alignment/arith-reasoning",
        task: ArithmeticTask | None = None,
        batch_size: int = 8,
        eval_batch_size: int = 64,
        max_prompt_length: int = 256,
        answer_field: str | None = "answer",
        chat_template: str | None = None,
        eos_tokens: list[str] | None = None,
        pad_token: str | None = None,
        num_workers: int = 0,
    ) -> None:
        """
        Args:
            train_files: JSONL / parquet files or save_to_disk folders of prompt rows (None: the embedded task).
            val_files: validation prompts (embedded: its val split; None with train_files: no validation).
            test_files: held-out prompts for `litlab test` / `predict` (embedded: its test split).
            tokenizer: local tokenizer folder (a HF model folder works); None: the embedded task's own.
            data_dir: where the embedded task and its tokenizer are written.
            task: sizes and seed of the embedded task.
            batch_size: prompts per GRPO generation step (each gets num_generations completions).
            eval_batch_size: prompts per validation / test / predict batch.
            max_prompt_length: longer prompts keep their last tokens (counted and warned).
            answer_field: the gold-answer column every row must have (None: no check).
            chat_template: Jinja template for conversational prompts (default: the tokenizer's).
            eos_tokens: extra end-of-turn tokens that count as EOS (e.g. "<|im_end|>").
            pad_token: an existing token to pad with if the tokenizer has none (must not be EOS).
            num_workers: DataLoader workers.
        """
        super().__init__()
        if batch_size < 1 or eval_batch_size < 1 or max_prompt_length < 1:
            raise ValueError(f"need batch_size, eval_batch_size, max_prompt_length >= 1, got {batch_size}, "
                             f"{eval_batch_size}, {max_prompt_length}")  # fmt: skip
        if train_files is not None and tokenizer is None:
            raise ValueError("train_files need a tokenizer folder (tokenizer=...); only the embedded task has its own")
        self.save_hyperparameters()
        self.task = task if task is not None else ArithmeticTask()
        self.tokenizer = None
        self.report: dict[str, dict] = {}

    def _embedded(self) -> dict[str, list[str]]:
        return {s: [str(p)] for s, p in ensure_reasoning_task(self.task, self.hparams.data_dir).items()}

    def _files(self) -> tuple[dict[str, list[str]], str]:
        hp = self.hparams
        if hp.train_files is None:
            files = self._embedded()
            for split, given in (("val", hp.val_files), ("test", hp.test_files)):
                files[split] = list(given) if given is not None else files[split]
            return files, hp.tokenizer or str(Path(hp.data_dir) / "tokenizer")
        return {"train": list(hp.train_files), "val": list(hp.val_files or []),
                "test": list(hp.test_files or [])}, hp.tokenizer  # fmt: skip

    def _encode_prompt(self, prompt, stats: Counter) -> list[int]:
        if isinstance(prompt, list):
            template = self.hparams.chat_template or getattr(self.tokenizer, "chat_template", None)
            if template is None:
                raise ValueError(
                    "conversational prompts need a chat template: the tokenizer has none; set chat_template"
                )
            prompt = self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True,
                                                        chat_template=template)  # fmt: skip
        ids = list(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        if len(ids) > self.hparams.max_prompt_length:
            stats["prompt_truncated"] += 1
            ids = ids[-self.hparams.max_prompt_length :]
        return ids

    def _load(self, split: str, files: list[str]) -> list[dict]:
        rows, malformed = load_prompt_rows(files, self.hparams.answer_field)
        stats: Counter = Counter()
        out = [{**r, "prompt_ids": self._encode_prompt(r["prompt"], stats)} for r in rows]
        self.report[split] = dict(usable=len(out), malformed=dict(malformed), events=dict(stats))
        if malformed or stats:
            warnings.warn(f"{split} prompts {files}: {self.report[split]}", stacklevel=2)
        return out

    def setup(self, stage: str | None = None) -> None:
        if self.tokenizer is not None:
            return
        files, folder = self._files()
        self.tokenizer = load_tokenizer(folder)
        self.eos_ids, self.pad_id = tokenizer_ids(self.tokenizer, folder, self.hparams.pad_token,
                                                  self.hparams.eos_tokens)  # fmt: skip
        self.sets = {split: self._load(split, paths) for split, paths in files.items() if paths}

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader | list:
        if split not in self.sets:
            if split == "val":
                return []
            raise ValueError(f"no {split} prompts: set {split}_files")
        return DataLoader(self.sets[split], batch_size=batch_size, shuffle=shuffle, collate_fn=collate_prompts,
                          num_workers=self.hparams.num_workers)  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True, self.hparams.batch_size)

    def val_dataloader(self):
        return self._loader("val", False, self.hparams.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False, self.hparams.eval_batch_size)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", False, self.hparams.eval_batch_size)
