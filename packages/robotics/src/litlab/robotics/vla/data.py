"""VLADataModule: action-chunk windows of a LeRobot v3 dataset, tokenized by the VLA processor.

Splits are by episode: ``train`` and ``val`` are the dataset's demonstration splits (the processor's
statistics and FAST fit use ``train`` only); ``test`` and ``predict`` are closed-loop episodes on
simulator seeds that no demonstration used (``TEST_SEED_OFFSET + i``), so the test metric is a success
rate on held-out seeds, never on training data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from litlab.robotics.data.chunks import ActionChunkDataset
from litlab.robotics.data.lerobot_v3 import LeRobotV3Dataset
from litlab.robotics.vla.batching import VLACollate
from litlab.robotics.vla.processor import VLAProcessor
from litlab.robotics.vla.rollout import TEST_SEED_OFFSET

__all__ = ["VLADataModule"]


class VLADataModule(L.LightningDataModule):
    """Train/val chunk batches and closed-loop test seeds for the VLA policies.

    Args:
        root: LeRobot v3 dataset folder (``python -m litlab.robotics generate --out ...``).
        action_tokens: ``"fast"``, ``"binning"`` or ``"continuous"`` (the flow head).
        horizon: chunk length H; None: the dataset's fps (one-second chunks).
        batch_size: windows per training batch.
        stride: distance between window starts.
        fast_scale: FAST DCT scale.
        fast_vocab: FAST BPE vocabulary size.
        text_len: text tokens of the prefix.
        processor: a saved processor folder to use instead of fitting one (its statistics must match).
        test_episodes: closed-loop episodes of ``litlab test`` / ``predict``.
        eval_batch: environments stepped together.
        num_workers: DataLoader workers.
        generate: where ``root`` holds no dataset, write one first (PointMass2D expert demos, progress bar) with
            these ``generate_pointmass_dataset`` options, e.g. ``{episodes: 500, control_hz: 50}``; None: refuse.
    """

    def __init__(self, root: str, action_tokens: Literal["fast", "binning", "continuous"] = "fast",
                 horizon: int | None = None, batch_size: int = 64, stride: int = 1, fast_scale: float = 10.0,
                 fast_vocab: int = 1024, text_len: int = 64, processor: str | None = None,
                 test_episodes: int = 50, eval_batch: int = 50, num_workers: int = 0,
                 generate: dict | None = None):
        super().__init__()
        if generate is not None and not Path(root, "meta", "info.json").is_file():
            from litlab.robotics.data.generate import generate_pointmass_dataset

            summary = generate_pointmass_dataset(root, **{"progress": True, **generate})
            print(f"litlab: generated {root}: {summary}")
        if not Path(root, "meta", "info.json").is_file():
            raise FileNotFoundError(f"root={root!r} has no meta/info.json; generate a dataset first "
                                    "(python -m litlab.robotics generate --out ...), or set generate: {...}")
        if action_tokens not in ("fast", "binning", "continuous"):
            raise ValueError(f"action_tokens must be 'fast', 'binning' or 'continuous', got {action_tokens!r}")
        for name, v in (("batch_size", batch_size), ("test_episodes", test_episodes), ("eval_batch", eval_batch)):
            if v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        self.save_hyperparameters()
        self.dataset: LeRobotV3Dataset | None = None
        self.processor: VLAProcessor | None = None

    def prepare_processor(self) -> VLAProcessor:
        """Load the dataset and fit (or load and check) the processor; idempotent."""
        if self.processor is None:
            h = self.hparams
            self.dataset = LeRobotV3Dataset(h.root)
            self.horizon = h.horizon or self.dataset.fps
            if h.processor:
                self.processor = VLAProcessor.load(h.processor)
                self.processor.check_stats(self.dataset.stats, where=f"dataset {h.root}")
                if (self.processor.kind, self.processor.horizon) != (h.action_tokens, self.horizon):
                    raise ValueError(f"processor {h.processor} is ({self.processor.kind}, H={self.processor.horizon}), "
                                     f"data asks for ({h.action_tokens}, H={self.horizon})")
            else:
                self.processor = VLAProcessor.from_dataset(self.dataset, h.action_tokens, self.horizon, h.stride,
                                                           scale=h.fast_scale, fast_vocab=h.fast_vocab,
                                                           text_len=h.text_len)
        return self.processor

    @property
    def env_kwargs(self) -> dict:
        """PointMass2D settings of the dataset: control rate and image size."""
        self.prepare_processor()
        key = self.dataset.image_keys[0]
        return {"control_hz": self.dataset.fps, "image_size": self.dataset.info["features"][key]["shape"][0]}

    def train_token_lengths(self, n: int = 2000) -> np.ndarray:
        """Action tokens per chunk on up to n training windows (sets the FAST decode budget)."""
        proc = self.prepare_processor()
        if proc.kind == "continuous":
            return np.zeros(0)
        idx = np.linspace(0, len(self.train_set) - 1, min(n, len(self.train_set))).astype(int)
        chunks = torch.stack([self.train_set.action_window(int(i)) for i in idx])
        return np.array([len(s) - 2 for s in proc.encode_actions(chunks)])

    def setup(self, stage: str | None = None):
        proc = self.prepare_processor()
        kw = dict(horizon=self.horizon, stride=self.hparams.stride)
        self.train_set = _Windows(self.dataset, split="train", **kw)
        has_val = "val" in self.dataset.info["splits"]
        self.val_set = _Windows(self.dataset, split="val", **kw) if has_val else None
        self.collate = VLACollate(proc)
        seeds = torch.arange(TEST_SEED_OFFSET, TEST_SEED_OFFSET + self.hparams.test_episodes)
        self.test_seeds = TensorDataset(seeds)

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True, drop_last=True,
                          collate_fn=self.collate, num_workers=self.hparams.num_workers,
                          persistent_workers=self.hparams.num_workers > 0)

    def val_dataloader(self):
        if self.val_set is None:
            return []
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size, collate_fn=self.collate,
                          num_workers=self.hparams.num_workers)

    def test_dataloader(self):
        return DataLoader(self.test_seeds, batch_size=self.hparams.eval_batch)

    def predict_dataloader(self):
        return self.test_dataloader()


class _Windows(ActionChunkDataset):
    """ActionChunkDataset plus the normalized action window alone (no image decode)."""

    def action_window(self, i: int) -> torch.Tensor:
        t, end = (int(v) for v in self.windows[i])
        idx = np.minimum(np.arange(t, t + self.horizon), end - 1)
        return torch.as_tensor(self.action_norm.transform(self.ds.columns["action"][idx]), dtype=torch.float32)
