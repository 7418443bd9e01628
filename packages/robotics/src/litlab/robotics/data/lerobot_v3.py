"""Writer and reader for the LeRobot dataset layout, codebase version v3.0 (huggingface/lerobot).

    meta/info.json                              fps, features, totals, paths, splits
    meta/stats.json                             mean/std/min/max/q01/q10/q50/q90/q99/count per feature
    meta/tasks.parquet                          task string (index) -> task_index
    meta/episodes/chunk-000/file-000.parquet    per-episode rows: length, tasks, frame ranges, file ids
    data/chunk-000/file-000.parquet             frames of many episodes; images as PNG bytes ("image")

Frames are written with Hugging Face ``datasets`` (so the parquet carries its feature schema and images
use its ``Image`` encoding, as LeRobot does) and read back with ``pyarrow``. Statistics are computed on
the ``train`` split's episodes only, so normalizers fitted from ``stats.json`` never see validation data
(LeRobot's own ``stats.json`` covers every episode).

The reader also takes datasets LeRobot wrote: ``next.success`` is optional (LeRobot writes it only when
declared; ``episode()["success"]`` is then None), and cameras stored as video are decoded
(``lerobot_video``; PyAV needed, else the dataset is refused naming the features) and listed in
``image_keys`` like image features.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from litlab.robotics.data.lerobot_video import decode_video_feature, require_decoder

__all__ = ["write_lerobot_v3", "LeRobotV3Dataset", "CODEBASE_VERSION"]

CODEBASE_VERSION = "v3.0"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}


def _feature_stats(x: np.ndarray) -> dict:
    x = x.reshape(len(x), -1).astype(np.float64)
    out = {"mean": x.mean(0), "std": x.std(0), "min": x.min(0), "max": x.max(0)}
    out.update({k: np.quantile(x, q, axis=0) for k, q in QUANTILES.items()})
    return {k: v.tolist() for k, v in out.items()} | {"count": [len(x)]}


def _image_stats(images: np.ndarray) -> dict:
    """Per-channel statistics of uint8 images in [0, 1], shaped [3, 1, 1] like LeRobot's."""
    px = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
    return {k: np.asarray(v).reshape(-1, 1, 1).tolist() if k != "count" else [len(images)]
            for k, v in _feature_stats(px).items()}


def write_lerobot_v3(root: str | Path, episodes: list[dict], fps: int, robot_type: str,
                     n_train: int, image_key: str = "observation.images.top",
                     state_names: list[str] | None = None, action_names: list[str] | None = None) -> Path:
    """Write episodes (dicts with ``state [T, Ds]``, ``action [T, Da]``, optional ``image [T, S, S, 3]``
    uint8, ``task`` str, optional ``success`` bool) as one v3 dataset. Episodes ``[0, n_train)`` form the
    ``train`` split, the rest ``val``."""
    import datasets  # heavy: imported only when writing

    root = Path(root)
    if not episodes:
        raise ValueError("episodes is empty")
    if not 0 < n_train <= len(episodes):
        raise ValueError(f"n_train must be in [1, {len(episodes)}], got {n_train}")
    if (root / "meta" / "info.json").exists():
        raise FileExistsError(f"{root} already holds a dataset (meta/info.json); choose an empty folder")
    tasks = sorted({ep["task"] for ep in episodes})
    task_index = {t: i for i, t in enumerate(tasks)}
    has_image = "image" in episodes[0]
    cols: dict[str, list] = {k: [] for k in ("observation.state", "action", "timestamp", "frame_index",
                                             "episode_index", "index", "task_index", "next.success")}
    if has_image:
        cols[image_key] = []
    ep_rows, start = [], 0
    for e, ep in enumerate(episodes):
        n = len(ep["action"])
        if len(ep["state"]) != n or (has_image and len(ep["image"]) != n):
            raise ValueError(f"episode {e}: state/image/action lengths differ")
        cols["observation.state"] += list(np.asarray(ep["state"], np.float32))
        cols["action"] += list(np.asarray(ep["action"], np.float32))
        cols["timestamp"] += (np.arange(n, dtype=np.float32) / fps).tolist()
        cols["frame_index"] += list(range(n))
        cols["episode_index"] += [e] * n
        cols["index"] += list(range(start, start + n))
        cols["task_index"] += [task_index[ep["task"]]] * n
        cols["next.success"] += [False] * (n - 1) + [bool(ep.get("success", False))]
        if has_image:
            cols[image_key] += list(ep["image"])
        ep_rows.append({"episode_index": e, "tasks": [ep["task"]], "length": n, "data/chunk_index": 0,
                        "data/file_index": 0, "dataset_from_index": start, "dataset_to_index": start + n,
                        "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
        start += n
    ds, da = len(cols["observation.state"][0]), len(cols["action"][0])
    feats = {
        "observation.state": datasets.Sequence(datasets.Value("float32"), length=ds),
        "action": datasets.Sequence(datasets.Value("float32"), length=da),
        "timestamp": datasets.Value("float32"), "frame_index": datasets.Value("int64"),
        "episode_index": datasets.Value("int64"), "index": datasets.Value("int64"),
        "task_index": datasets.Value("int64"), "next.success": datasets.Value("bool"),
    }
    if has_image:
        feats[image_key] = datasets.Image()
    data_file = root / DATA_PATH.format(chunk_index=0, file_index=0)
    data_file.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(cols, features=datasets.Features(feats)).to_parquet(str(data_file))
    _write_meta(root, episodes, ep_rows, tasks, fps, robot_type, n_train, image_key if has_image else None,
                state_names or [f"s{i}" for i in range(ds)], action_names or [f"a{i}" for i in range(da)])
    return root


def _write_meta(root, episodes, ep_rows, tasks, fps, robot_type, n_train, image_key, s_names, a_names):
    import pandas as pd

    meta = root / "meta"
    (meta / "episodes" / "chunk-000").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(ep_rows).to_parquet(root / EPISODES_PATH)
    pd.DataFrame({"task_index": range(len(tasks))}, index=pd.Index(tasks, name="task")).to_parquet(
        meta / "tasks.parquet")
    train = episodes[:n_train]
    stats = {"observation.state": _feature_stats(np.concatenate([ep["state"] for ep in train])),
             "action": _feature_stats(np.concatenate([ep["action"] for ep in train]))}
    features = {
        "observation.state": {"dtype": "float32", "shape": [len(s_names)], "names": s_names},
        "action": {"dtype": "float32", "shape": [len(a_names)], "names": a_names},
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
        "frame_index": {"dtype": "int64", "shape": [1], "names": None},
        "episode_index": {"dtype": "int64", "shape": [1], "names": None},
        "index": {"dtype": "int64", "shape": [1], "names": None},
        "task_index": {"dtype": "int64", "shape": [1], "names": None},
        "next.success": {"dtype": "bool", "shape": [1], "names": None},
    }
    if image_key:
        imgs = np.concatenate([ep["image"][:: max(1, len(ep["image"]) // 4)] for ep in train])
        stats[image_key] = _image_stats(imgs)
        features[image_key] = {"dtype": "image", "shape": list(episodes[0]["image"].shape[1:]),
                               "names": ["height", "width", "channels"]}
    n = len(episodes)
    info = {
        "codebase_version": CODEBASE_VERSION, "robot_type": robot_type, "total_episodes": n,
        "total_frames": sum(r["length"] for r in ep_rows), "total_tasks": len(tasks), "chunks_size": 1000,
        "data_files_size_in_mb": 100, "video_files_size_in_mb": 500, "fps": fps,
        "splits": {"train": f"0:{n_train}"} | ({"val": f"{n_train}:{n}"} if n_train < n else {}),
        "data_path": DATA_PATH, "video_path": None, "features": features,
    }
    (meta / "info.json").write_text(json.dumps(info, indent=2))
    (meta / "stats.json").write_text(json.dumps(stats, indent=2))


def _read_info(info_path: Path) -> dict:
    """``meta/info.json``, with the keys the reader needs checked (names the file and what is missing)."""
    try:
        info = json.loads(info_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{info_path}: not valid JSON ({exc})") from None
    if not isinstance(info, dict):
        raise ValueError(f"{info_path}: expected a JSON object, got {type(info).__name__}")
    missing = [k for k in ("fps", "features", "splits") if k not in info]
    if missing:
        raise ValueError(f"{info_path}: missing {missing}; a LeRobot v3 info.json needs 'fps' (frames per "
                         "second), 'features' and 'splits'")
    fps = info["fps"]
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or fps <= 0:
        raise ValueError(f"{info_path}: 'fps' is {fps!r}; expected a positive number of frames per second")
    return info


class LeRobotV3Dataset:
    """Read a v3 dataset folder into memory (numeric columns as numpy, images decoded on access)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        info_path = self.root / "meta" / "info.json"
        if not info_path.is_file():
            raise FileNotFoundError(f"{info_path} not found: {self.root} is not a LeRobot v3 dataset")
        self.info = _read_info(info_path)
        if self.info.get("codebase_version") != CODEBASE_VERSION:
            raise ValueError(f"{info_path}: codebase_version {self.info.get('codebase_version')!r}, "
                             f"expected {CODEBASE_VERSION!r}")
        self.stats = json.loads((self.root / "meta" / "stats.json").read_text())
        self.fps = int(self.info["fps"])  # checked by _read_info
        tasks = pq.read_table(self.root / "meta" / "tasks.parquet").to_pandas()
        self.tasks = [t for t, _ in sorted(zip(tasks.index, tasks["task_index"]), key=lambda p: p[1])]
        self.episodes = pq.read_table(self.root / EPISODES_PATH).to_pandas()
        files = sorted((self.root / "data").glob("chunk-*/file-*.parquet"))
        if not files:
            raise FileNotFoundError(f"no data/chunk-*/file-*.parquet files under {self.root}")
        tables = [pq.read_table(f) for f in files]
        self.image_keys = [k for k, f in self.info["features"].items() if f["dtype"] == "image"]
        self.video_keys = [k for k, f in self.info["features"].items() if f["dtype"] == "video"]
        if self.video_keys:
            require_decoder(self.root, self.video_keys)  # refused by name, never dropped
        self.columns = {}
        for name in ("observation.state", "action"):
            self.columns[name] = np.concatenate([np.stack(t.column(name).to_numpy(zero_copy_only=False))
                                                 for t in tables]).astype(np.float32)
        for name in ("timestamp", "frame_index", "episode_index", "index", "task_index", "next.success"):
            if name == "next.success" and name not in tables[0].column_names:
                continue  # optional: LeRobot writes it only when the feature is declared
            self.columns[name] = np.concatenate([t.column(name).to_numpy() for t in tables])
        self._video_frames = {k: decode_video_feature(self.root, self.info, self.episodes, k,
                                                      self.columns["episode_index"], self.columns["timestamp"])
                              for k in self.video_keys}  # fmt: skip
        self._image_bytes = {k: sum((t.column(k).combine_chunks().field("bytes").to_pylist() for t in tables),
                                    []) for k in self.image_keys}
        self.image_keys += self.video_keys  # video cameras are read like image ones

    def __len__(self) -> int:
        return len(self.columns["index"])

    def episode_range(self, episode: int) -> tuple[int, int]:
        row = self.episodes.iloc[episode]
        return int(row["dataset_from_index"]), int(row["dataset_to_index"])

    def split_episodes(self, split: str) -> np.ndarray:
        if split not in self.info["splits"]:
            raise ValueError(f"split {split!r} not in {list(self.info['splits'])}")
        text, n = self.info["splits"][split], len(self.episodes)
        try:
            a, b = map(int, str(text).split(":"))
        except ValueError:
            a, b = -1, -1
        if not 0 <= a <= b <= n:
            raise ValueError(f"{self.root / 'meta' / 'info.json'}: split {split!r} is {text!r}; expected "
                             f"'start:stop' episodes with 0 <= start <= stop <= {n} (the dataset has {n} episodes)")
        return np.arange(a, b)

    def image(self, key: str, index: int) -> np.ndarray:
        from PIL import Image

        if key in self._video_frames:
            return self._video_frames[key][index]
        return np.asarray(Image.open(io.BytesIO(self._image_bytes[key][index])).convert("RGB"))

    def episode(self, episode: int) -> dict:
        """One episode's arrays, in the writer's input format (for round-trip checks)."""
        a, b = self.episode_range(episode)
        out = {"state": self.columns["observation.state"][a:b], "action": self.columns["action"][a:b],
               "task": self.tasks[int(self.columns["task_index"][a])],
               "success": bool(self.columns["next.success"][b - 1]) if "next.success" in self.columns else None}
        if self.image_keys:
            out["image"] = np.stack([self.image(self.image_keys[0], i) for i in range(a, b)])
        return out
