"""Action-chunk windows over a LeRobot v3 dataset and their LightningDataModule.

Item t of an episode gives the observation at t and ``action[t : t + H]`` with ``action_is_pad``; as in
LeRobot's ``delta_timestamps``, indices past the episode end repeat the last frame and are flagged.
Splits are by episode (the dataset's ``train``/``val`` splits), never by frame.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from litlab.robotics.data.lerobot_v3 import LeRobotV3Dataset
from litlab.robotics.tokenizers.normalize import QuantileNormalizer

__all__ = ["ActionChunkDataset", "ActionChunkDataModule", "chunk_windows"]


def chunk_windows(dataset: LeRobotV3Dataset, episodes, horizon: int, stride: int = 1,
                  full_only: bool = False) -> np.ndarray:
    """Frame indices ``[n, 2]`` of (window start, episode end) for windows of ``horizon`` actions."""
    out = []
    for e in episodes:
        a, b = dataset.episode_range(int(e))
        last = b - horizon if full_only else b - 1
        out += [(t, b) for t in range(a, last + 1, stride)]
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


class ActionChunkDataset(Dataset):
    """(observation, instruction, action chunk) windows of one split.

    Args:
        dataset: a loaded :class:`LeRobotV3Dataset`.
        horizon: chunk length H.
        split: ``"train"`` or ``"val"``.
        stride: distance between window starts.
        normalize: map state and actions to [-1, 1] with the dataset's q01/q99 (``stats.json``).
        images: return ``observation.image`` (uint8 ``[3, S, S]``) when the dataset has images.
    """

    def __init__(self, dataset: LeRobotV3Dataset, horizon: int, split: str = "train", stride: int = 1,
                 normalize: bool = True, images: bool = True):
        if horizon < 1 or stride < 1:
            raise ValueError(f"horizon and stride must be >= 1, got {horizon}, {stride}")
        self.ds, self.horizon = dataset, horizon
        self.windows = chunk_windows(dataset, dataset.split_episodes(split), horizon, stride)
        self.image_key = dataset.image_keys[0] if images and dataset.image_keys else None
        st = dataset.stats
        self.action_norm = QuantileNormalizer.from_quantiles(st["action"]["q01"], st["action"]["q99"])
        self.state_norm = QuantileNormalizer.from_quantiles(st["observation.state"]["q01"],
                                                            st["observation.state"]["q99"])
        self.normalize = normalize

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict:
        t, end = (int(v) for v in self.windows[i])
        idx = np.arange(t, t + self.horizon)
        pad = idx >= end
        actions = self.ds.columns["action"][np.minimum(idx, end - 1)]
        state = self.ds.columns["observation.state"][t]
        if self.normalize:
            actions, state = self.action_norm.transform(actions), self.state_norm.transform(state)
        item = {
            "observation.state": torch.as_tensor(state, dtype=torch.float32),
            "action": torch.as_tensor(actions, dtype=torch.float32),
            "action_is_pad": torch.from_numpy(pad),
            "task": self.ds.tasks[int(self.ds.columns["task_index"][t])],
            "episode_index": int(self.ds.columns["episode_index"][t]),
            "frame_index": int(self.ds.columns["frame_index"][t]),
        }
        if self.image_key:
            item["observation.image"] = torch.from_numpy(self.ds.image(self.image_key, t).copy()).permute(2, 0, 1)
        return item


class ActionChunkDataModule(L.LightningDataModule):
    """Train/val action-chunk windows from a LeRobot v3 folder.

    Args:
        root: dataset folder (``meta/info.json`` inside).
        horizon: chunk length H in steps (e.g. the fps for one-second chunks).
        batch_size: windows per batch.
        stride: distance between window starts.
        normalize: quantile-normalize state and actions to [-1, 1].
        images: include the camera image.
        num_workers: DataLoader workers.
    """

    def __init__(self, root: str, horizon: int, batch_size: int = 64, stride: int = 1,
                 normalize: bool = True, images: bool = True, num_workers: int = 0):
        super().__init__()
        if not Path(root, "meta", "info.json").is_file():
            raise FileNotFoundError(f"root={root!r} has no meta/info.json; generate a dataset first "
                                    "(python -m litlab.robotics generate --out ...)")
        self.root, self.horizon, self.batch_size, self.stride = root, horizon, batch_size, stride
        self.normalize, self.images, self.num_workers = normalize, images, num_workers
        self.dataset: LeRobotV3Dataset | None = None

    def setup(self, stage: str | None = None):
        if self.dataset is None:
            self.dataset = LeRobotV3Dataset(self.root)
            kw = dict(horizon=self.horizon, stride=self.stride, normalize=self.normalize, images=self.images)
            self.train_set = ActionChunkDataset(self.dataset, split="train", **kw)
            has_val = "val" in self.dataset.info["splits"]
            self.val_set = ActionChunkDataset(self.dataset, split="val", **kw) if has_val else None

    def train_dataloader(self):
        return DataLoader(self.train_set, self.batch_size, shuffle=True, num_workers=self.num_workers)

    def val_dataloader(self):
        if self.val_set is None:
            return []
        return DataLoader(self.val_set, self.batch_size, num_workers=self.num_workers)
