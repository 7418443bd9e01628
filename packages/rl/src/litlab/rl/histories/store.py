"""Chunked on-disk learning histories: one ordered stream per task, read through memory maps.

Layout of a history set (written once, read many times, never shuffled on disk):

    <root>/metadata.json              family, spec, split, schedule, fields, chunk size, per-task summary
    <root>/task_<id>/<field>.<k>.npy  chunk k (chunk_size steps) of one field of one task's stream
    <root>/task_<id>/meta.json        that task's metadata; written last, so its presence marks the task
                                      as complete (an interrupted run regenerates tasks without one)

Fields per step: obs (observation o_t), act (the executed action a_t), demo_act (the demonstrator's action
in o_t, the DPT-style target), rew (r_t), step_num (t within the episode), eps (the noise level).
Per-task metadata: group, task id, demonstrator, schedule, steps, episodes, episode returns, random and
expert returns, obs mean/std.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from functools import cached_property
from pathlib import Path

import numpy as np

FIELDS = ("obs", "act", "demo_act", "rew", "step_num", "eps")
TASK_KEYS = ("task", "group", "steps", "episodes", "episode_returns", "random_return", "expert_return")
SET_KEYS = ("family", "group", "fields", "chunk_size", "tasks", "split")
CHUNK_SIZE = 10_000


def task_dir(root: Path, task: int) -> Path:
    return Path(root) / f"task_{task:05d}"


def write_task(root: Path, task: int, arrays: dict[str, np.ndarray], meta: dict, chunk_size: int = CHUNK_SIZE) -> None:
    """Write one task's stream in chunks, then its meta.json (atomically, last)."""
    missing = [f for f in FIELDS if f not in arrays]
    if missing:
        raise ValueError(f"write_task(task={task}): arrays lack fields {missing}; expected {list(FIELDS)}")
    steps = len(arrays["obs"])
    out = task_dir(root, task)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for k in range(math.ceil(steps / chunk_size)):
        for f in FIELDS:
            np.save(out / f"{f}.{k:05d}.npy", np.ascontiguousarray(arrays[f][k * chunk_size : (k + 1) * chunk_size]))
    tmp = out / "meta.json.tmp"
    tmp.write_text(json.dumps({**meta, "task": int(task), "steps": int(steps)}))
    os.replace(tmp, out / "meta.json")


def completed_tasks(root: Path) -> set[int]:
    """Task ids whose meta.json exists (fully written)."""
    return {int(p.parent.name.split("_")[1]) for p in Path(root).glob("task_*/meta.json")}


class TaskStream:
    """One task's history, read lazily: `window(start, length)` maps only the chunks it touches."""

    def __init__(self, root: Path, task: int, chunk_size: int) -> None:
        self.dir, self.chunk_size = task_dir(root, task), chunk_size
        path = self.dir / "meta.json"
        if not path.is_file():
            raise ValueError(f"history of task {task} is incomplete: {path} is missing (resume the generation)")
        self.meta = json.loads(path.read_text())
        missing = [k for k in TASK_KEYS if k not in self.meta]
        if missing:
            raise ValueError(f"history of task {task}: {path} lacks keys {missing}; expected {list(TASK_KEYS)}")
        self.steps = int(self.meta["steps"])
        if self.steps == 0:
            raise ValueError(f"history of task {task} is empty (0 steps); regenerate it or drop the task")
        self._maps: dict[tuple[str, int], np.ndarray] = {}

    def _chunk(self, field: str, k: int) -> np.ndarray:
        key = (field, k)
        if key not in self._maps:
            path = self.dir / f"{field}.{k:05d}.npy"
            if not path.is_file():
                raise ValueError(f"history of task {self.meta['task']}: chunk file {path.name} is missing")
            self._maps[key] = np.load(path, mmap_mode="r")
        return self._maps[key]

    def field(self, name: str, start: int, stop: int) -> np.ndarray:
        """Steps [start, stop) of one field, copied out of the memory maps."""
        if not 0 <= start <= stop <= self.steps:
            raise IndexError(f"steps [{start}, {stop}) outside the history of {self.steps} steps")
        parts = []
        for k in range(start // self.chunk_size, (stop - 1) // self.chunk_size + 1 if stop > start else 0):
            base = k * self.chunk_size
            parts.append(self._chunk(name, k)[max(start - base, 0) : stop - base])
        return np.concatenate(parts) if parts else self._chunk(name, 0)[:0].copy()

    def window(self, start: int, length: int) -> dict[str, np.ndarray]:
        return {f: self.field(f, start, start + length) for f in FIELDS}

    def read_all(self) -> dict[str, np.ndarray]:
        return self.window(0, self.steps)


class HistorySet:
    """A history set on disk, validated on open (metadata keys, every task complete and non-empty).

    Args:
        root: the folder `python -m litlab.rl.histories` wrote.
        check_values: scan every chunk for NaN/inf rewards and out-of-range values (reads everything once).
    """

    def __init__(self, root: str | Path, check_values: bool = False) -> None:
        self.root = Path(root)
        path = self.root / "metadata.json"
        if not path.is_file():
            raise FileNotFoundError(f"history set {self.root} does not exist or has no metadata.json")
        self.meta = json.loads(path.read_text())
        missing = [k for k in SET_KEYS if k not in self.meta]
        if missing:
            raise ValueError(f"{path} lacks keys {missing}; expected {list(SET_KEYS)}")
        self.tasks = [int(t) for t in self.meta["tasks"]]
        if not self.tasks:
            raise ValueError(f"{path}: the history set lists no tasks")
        self.streams = {t: TaskStream(self.root, t, int(self.meta["chunk_size"])) for t in self.tasks}
        if check_values:
            for stream in self.streams.values():
                _check_values(stream)

    @cached_property
    def split(self) -> dict[str, list[int]]:
        return {k: [int(t) for t in v] for k, v in self.meta["split"].items()}

    def tasks_of(self, split: str) -> list[int]:
        """Tasks of a split ("train" / "test") that have histories here."""
        if split not in self.split:
            raise ValueError(f"split must be one of {sorted(self.split)}, got {split!r}")
        return [t for t in self.split[split] if t in self.streams]


def _check_values(stream: TaskStream) -> None:
    data = stream.read_all()
    task = stream.meta["task"]
    for name in ("rew", "eps", "obs"):
        arr = np.asarray(data[name], dtype=np.float64)
        if not np.isfinite(arr).all():
            bad = int(np.flatnonzero(~np.isfinite(arr).reshape(len(arr), -1).all(1))[0])
            raise ValueError(f"history of task {task}: field {name!r} has NaN/inf values (first at step {bad})")
    if (data["step_num"] < 0).any():
        raise ValueError(f"history of task {task}: negative step_num values")
