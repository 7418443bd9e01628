"""`TextDataModule`: text corpus -> byte-level BPE -> packed next-token windows, with a disk cache.

Pipeline: load documents (`sources.py`) -> seeded document-level train/val/test split -> a byte-level BPE
trained on the train split only (or an existing tokenizer.json) -> tokenize -> pack (`packing.py`).
The tokenizer and both token streams are cached under `cache_dir`, keyed by the source files, the split
and the tokenizer, so a second run starts in seconds. The tokenizer is also written to the run's log
folder and stored in checkpoints (`state_dict`), so a trained model always travels with it.

`litlab test` evaluates on the held-out test documents (never seen by training or validation);
`litlab predict` generates from the prompts of `predict_file` (JSONL rows with a "prompt" field, or text
lines), one completion per prompt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os

import lightning as L
import numpy as np
from tokenizers import Tokenizer
from torch.utils.data import DataLoader

from litlab.attention.data.packing import PackedDataset, pack_documents
from litlab.attention.data.sources import STDLIB, load_texts, source_signature
from litlab.attention.data.tokenizer import eos_id, load_tokenizer, train_bpe
from litlab.shared.results import read_prompts

log = logging.getLogger(__name__)


class TextDataModule(L.LightningDataModule):
    """Packed language-modelling batches [B, T + 1] of token ids.

    Args:
        source: "stdlib" (the Python standard library's .py files), a glob of text files, JSONL/JSON/parquet
            files with `text_field`, or a folder written by `datasets.Dataset.save_to_disk`.
        text_field: column holding the text (JSONL/parquet/saved datasets).
        tokenizer: path of an existing tokenizer.json; None trains a byte-level BPE on the train split.
        bpe_vocab_size: size of the byte-level BPE to train (ignored with `tokenizer`).
        eos_token: end-of-text token separating documents; None: the first of the usual names found.
        seq_len: tokens per training sequence T.
        batch_size: sequences per batch.
        val_fraction: fraction of documents held out for validation (at least one document).
        test_fraction: fraction of documents held out for `litlab test` (at least one document).
        max_documents: use only the first N documents (after a seeded shuffle); None: all.
        seed: seed of the shuffle and split.
        cache_dir: folder for the tokenizer and token caches.
        num_workers: DataLoader workers.
        predict_file: prompts for `litlab predict` (JSONL rows with "prompt", or one prompt per text line).
    """

    def __init__(
        self,
        source: str = STDLIB,
        text_field: str = "text",
        tokenizer: str | None = None,
        bpe_vocab_size: int = 4096,
        eos_token: str | None = None,
        seq_len: int = 256,
        batch_size: int = 16,
        val_fraction: float = 0.05,
        max_documents: int | None = None,
        seed: int = 0,
        cache_dir: str = "data/cache/text",
        num_workers: int = 0,
        test_fraction: float = 0.05,
        predict_file: str | None = None,
    ) -> None:
        super().__init__()
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        if not 0 < test_fraction < 1 or val_fraction + test_fraction >= 1:
            raise ValueError(f"test_fraction must be in (0, 1 - val_fraction), got {test_fraction} (val_fraction "
                             f"{val_fraction})")  # fmt: skip
        if seq_len < 1 or batch_size < 1:
            raise ValueError(f"seq_len and batch_size must be >= 1, got {seq_len} and {batch_size}")
        if max_documents is not None and max_documents < 3:
            raise ValueError(f"max_documents must be >= 3 (train + val + test) or None, got {max_documents}")
        if tokenizer is not None and not os.path.isfile(tokenizer):
            raise FileNotFoundError(f"tokenizer {tokenizer!r} is not a file (expected a tokenizer.json)")
        if tokenizer is None and bpe_vocab_size < 258:
            raise ValueError(f"bpe_vocab_size must be >= 258, got {bpe_vocab_size}")
        self.save_hyperparameters()
        self.tokenizer: Tokenizer | None = None
        self.train_tokens: np.ndarray | None = None
        self.val_tokens: np.ndarray | None = None
        self.test_tokens: np.ndarray | None = None

    # ---- building and caching -------------------------------------------------------------------
    def _key(self, *parts) -> str:
        h = self.hparams
        base = [source_signature(h.source), h.text_field, h.val_fraction, h.test_fraction, h.max_documents, h.seed,
                *parts]  # fmt: skip
        return hashlib.sha256(json.dumps(base, default=str).encode()).hexdigest()[:16]

    def _split(self):
        ds = load_texts(self.hparams.source, self.hparams.text_field, os.path.join(self.hparams.cache_dir, "hf"))
        if len(ds) < 3:
            raise ValueError(f"source {self.hparams.source!r} has {len(ds)} document(s); need >= 3 for a "
                             "train/val/test split")  # fmt: skip
        order = np.random.default_rng(self.hparams.seed).permutation(len(ds))
        if self.hparams.max_documents is not None:
            order = order[: self.hparams.max_documents]
        n_val = min(len(order) - 2, max(1, round(self.hparams.val_fraction * len(order))))
        n_test = min(len(order) - 1 - n_val, max(1, round(self.hparams.test_fraction * len(order))))
        val, test = order[:n_val], order[n_val : n_val + n_test]
        return ds.select(order[n_val + n_test :]), ds.select(val), ds.select(test)

    def _build_tokenizer(self, train) -> Tokenizer:
        if self.hparams.tokenizer is not None:
            return load_tokenizer(self.hparams.tokenizer)
        path = os.path.join(self.hparams.cache_dir, f"bpe-{self._key(self.hparams.bpe_vocab_size)}.json")
        if os.path.exists(path):
            return load_tokenizer(path)
        log.info("training a byte-level BPE (vocab %d) on %d documents", self.hparams.bpe_vocab_size, len(train))
        tok = train_bpe((row["text"] for row in train), self.hparams.bpe_vocab_size, length=len(train))
        os.makedirs(self.hparams.cache_dir, exist_ok=True)
        tok.save(path + ".tmp")
        os.replace(path + ".tmp", path)
        return tok

    def _tokenize(self, split, name: str, tok: Tokenizer) -> np.ndarray:
        key = self._key(hashlib.sha256(tok.to_str().encode()).hexdigest(), self.hparams.eos_token)
        path = os.path.join(self.hparams.cache_dir, f"tokens-{key}-{name}.npy")
        if os.path.exists(path):
            return np.load(path, mmap_mode="r")
        eos, texts = eos_id(tok, self.hparams.eos_token), split["text"]
        docs = (enc.ids for i in range(0, len(texts), 256) for enc in tok.encode_batch(texts[i : i + 256]))
        tokens = pack_documents(docs, eos, tok.get_vocab_size())
        np.save(path + ".tmp.npy", tokens)
        os.replace(path + ".tmp.npy", path)
        return tokens

    def _build(self) -> None:
        train, val, test = self._split()
        tok = self.tokenizer or self._build_tokenizer(train)
        self.tokenizer = tok
        self.train_tokens = self._tokenize(train, "train", tok)
        self.val_tokens = self._tokenize(val, "val", tok)
        self.test_tokens = self._tokenize(test, "test", tok)
        splits = (("train", self.train_tokens), ("validation", self.val_tokens), ("test", self.test_tokens))
        for name, toks in splits:
            if len(toks) <= self.hparams.seq_len:
                raise ValueError(
                    f"the {name} split has {len(toks)} tokens, fewer than seq_len + 1 = {self.hparams.seq_len + 1}; "
                    "use more text, a smaller seq_len or a larger val_fraction / test_fraction"
                )

    def prepare_data(self) -> None:
        os.makedirs(self.hparams.cache_dir, exist_ok=True)
        self._build()

    def setup(self, stage: str | None = None) -> None:
        if self.train_tokens is None:
            self._build()
        trainer = getattr(self, "trainer", None)
        log_dir = trainer.log_dir if trainer is not None else None  # a broadcast under DDP: every rank asks
        if log_dir and trainer.is_global_zero:
            os.makedirs(log_dir, exist_ok=True)
            self.tokenizer.save(os.path.join(log_dir, "tokenizer.json"))

    # ---- public API -------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """The tokenizer's vocabulary (linked to the model's ``vocab_size``); builds the splits if needed."""
        if self.tokenizer is None:
            self._build()
        return self.tokenizer.get_vocab_size()

    @property
    def eos_token_id(self) -> int:
        return eos_id(self.tokenizer, self.hparams.eos_token)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def train_dataloader(self) -> DataLoader:
        ds = PackedDataset(self.train_tokens, self.hparams.seq_len)
        return DataLoader(
            ds,
            self.hparams.batch_size,
            shuffle=True,
            drop_last=len(ds) >= self.hparams.batch_size,
            num_workers=self.hparams.num_workers,
        )

    def val_dataloader(self) -> DataLoader:
        ds = PackedDataset(self.val_tokens, self.hparams.seq_len)
        return DataLoader(ds, self.hparams.batch_size, shuffle=False, num_workers=self.hparams.num_workers)

    def test_dataloader(self) -> DataLoader:
        ds = PackedDataset(self.test_tokens, self.hparams.seq_len)
        return DataLoader(ds, self.hparams.batch_size, shuffle=False, num_workers=self.hparams.num_workers)

    def predict_dataloader(self) -> DataLoader:
        """Batches of one prompt string each (prompts differ in length; generation is per prompt)."""
        if self.hparams.predict_file is None:
            raise ValueError("TextDataModule.predict_file is not set: give --data.init_args.predict_file=PROMPTS "
                             "(JSONL rows with a 'prompt' field, or one prompt per text line)")  # fmt: skip
        return DataLoader(read_prompts(self.hparams.predict_file), batch_size=None)

    def state_dict(self) -> dict:
        return {"tokenizer": self.tokenizer.to_str()} if self.tokenizer is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if "tokenizer" in state:
            self.tokenizer = Tokenizer.from_str(state["tokenizer"])
