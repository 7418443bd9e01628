"""`HistoryDataModule`: windows of learning histories for training, held-out tasks for evaluation.

- train: windows of `context + 1` consecutive transitions of the training tasks' histories, starting every
  `stride` steps (Vintix's trajectory_sparsity), drawn uniformly over all windows of all sets, i.e. each
  task and each group in proportion to its data volume. Inputs o[1:], a[:-1], r[:-1], step_num[1:], target
  a[1:] (or the demonstrator's action, `target="demo_act"`, for DPT-style training). Histories are read
  through memory maps; the loader is infinite (`max_steps` ends training).
- val: a fixed set of windows of the held-out (test) tasks' histories where those exist (the loss on
  unseen tasks), else of the last 5% of the training tasks' histories.
- test / predict: batches of held-out task ids per set; the agent's `test_step` rolls them out in context.

A batch is {group: {field: tensor [B_g, ...]}}: samples are grouped by their encoder group.
"""

from __future__ import annotations

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from litlab.rl.histories.store import HistorySet


class WindowIndex:
    """All (set, task, start) windows of `length` steps over some tasks of some sets."""

    def __init__(self, sets: list[HistorySet], split: str, length: int, stride: int, tail: float = 0.0) -> None:
        rows = []
        for si, hs in enumerate(sets):
            for task in hs.tasks_of(split):
                steps = hs.streams[task].steps
                lo = int(steps * (1 - tail)) if tail else 0
                starts = np.arange(lo, steps - length + 1, stride)
                rows += [(si, task, int(s)) for s in starts]
        if not rows:
            raise ValueError(f"no {split} window of {length} steps in the history sets (histories too short?)")
        self.rows = np.array(rows, dtype=np.int64)


def read_window(hs: HistorySet, task: int, start: int, length: int, target: str) -> dict:
    """One sample: the stacked-token inputs and targets of steps [start + 1, start + length)."""
    w = hs.streams[task].window(start, length)
    return {
        "obs": w["obs"][1:], "prev_act": w["act"][:-1], "prev_rew": w["rew"][:-1].astype(np.float32),
        "step_num": w["step_num"][1:].astype(np.int64), "act": w["act"][1:], "rew": w["rew"][1:].astype(np.float32),
        "target": w[target][1:],
    }  # fmt: skip


def collate(samples: list[tuple[str, dict]]) -> dict[str, dict[str, torch.Tensor]]:
    out: dict[str, list[dict]] = {}
    for group, s in samples:
        out.setdefault(group, []).append(s)
    return {g: {k: torch.as_tensor(np.stack([s[k] for s in ss])) for k in ss[0]} for g, ss in out.items()}


class RandomWindows(IterableDataset):
    """Infinite stream of windows drawn uniformly (with replacement) from a `WindowIndex`."""

    def __init__(self, sets, index: WindowIndex, length: int, target: str, seed: int) -> None:
        self.sets, self.index, self.length, self.target, self.seed = sets, index, length, target, seed

    def __iter__(self):
        info = get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0])
        while True:
            si, task, start = self.index.rows[rng.integers(len(self.index.rows))]
            hs = self.sets[si]
            yield hs.meta["group"], read_window(hs, int(task), int(start), self.length, self.target)


def generate_missing_sets(paths: list[str], generate: dict[str, dict]) -> None:
    """Run `python -m litlab.rl.histories` for each path of `generate` that holds no history set yet.

    Entries for folders not among `paths` are skipped (a recipe's default set when `paths` is overridden)."""
    from pathlib import Path

    for path, options in generate.items():
        if str(path) not in [str(p) for p in paths] or (Path(path) / "metadata.json").is_file():
            continue
        from litlab.rl.histories.__main__ import main

        argv = ["--out", str(path)]
        for key, value in options.items():
            flag = "--" + key.replace("_", "-")
            argv += [flag] if value is True else [] if value is False else [flag, str(value)]
        command = "python -m litlab.rl.histories " + " ".join(argv)
        print(f"litlab: {path} holds no history set; generating it once ({command})")
        main(argv)


class HistoryDataModule(LightningDataModule):
    """Learning histories (from `python -m litlab.rl.histories`) for `InContextAgent`.

    Args:
        paths: history set folders (one group each; several sets may share a group).
        context: steps per training sample (the model sees `context` tokens, or 3x that interleaved).
        batch_size: samples per step.
        stride: a window starts every `stride` steps.
        target: "act" (AD: the executed action) or "demo_act" (DPT: the demonstrator's action).
        num_workers: DataLoader workers.
        val_windows: windows in the fixed validation set.
        test_tasks_per_batch: held-out tasks rolled out per test batch.
        max_test_tasks: evaluate only the first k held-out tasks of each set (None: all).
        seed: sampling seed.
        generate: {path: options of `python -m litlab.rl.histories`} for sets to write on first use (where the
            path holds no set), e.g. `{data/rl/darkroom-q50: {family: darkroom, episodes: 1000, quality: 0.5}}`.
    """

    def __init__(
        self,
        paths: list[str],
        context: int = 80,
        batch_size: int = 32,
        stride: int = 1,
        target: str = "act",
        num_workers: int = 0,
        val_windows: int = 256,
        test_tasks_per_batch: int = 16,
        max_test_tasks: int | None = None,
        seed: int = 0,
        generate: dict[str, dict] | None = None,
    ) -> None:
        super().__init__()
        if target not in ("act", "demo_act"):
            raise ValueError(f"target must be 'act' or 'demo_act', got {target!r}")
        if context < 2 or batch_size < 1 or stride < 1:
            raise ValueError(f"need context >= 2, batch_size >= 1, stride >= 1; got {context}, {batch_size}, {stride}")
        if not paths:
            raise ValueError("paths is empty: give at least one history set folder")
        self.save_hyperparameters()
        generate_missing_sets(paths, generate or {})
        self.sets = [HistorySet(p) for p in paths]  # validated now: a bad set fails before any work

    @property
    def groups(self) -> dict[str, dict]:
        """Group name -> spaces (the model's encoders), from the sets' metadata."""
        out = {}
        for hs in self.sets:
            m = hs.meta
            spec = {"obs_kind": m.get("obs_kind", "discrete"), "obs_n": int(m["num_obs"]), "act_kind": "discrete",
                    "act_n": int(m["num_actions"]), "reward_scale": float(m.get("reward_scale", 1.0))}  # fmt: skip
            if out.setdefault(m["group"], spec) != spec:
                raise ValueError(f"sets of group {m['group']!r} disagree on their spaces: {out[m['group']]} vs {spec}")
        return out

    def setup(self, stage: str | None = None) -> None:
        length = self.hparams.context + 1
        self.train_index = WindowIndex(self.sets, "train", length, self.hparams.stride)
        has_test = any(hs.tasks_of("test") for hs in self.sets)
        val = WindowIndex(self.sets, "test", length, self.hparams.stride) if has_test else None
        val = val or WindowIndex(self.sets, "train", length, self.hparams.stride, tail=0.05)
        rng = np.random.default_rng(self.hparams.seed + 1)
        self.val_rows = val.rows[rng.choice(len(val.rows), min(self.hparams.val_windows, len(val.rows)), False)]

    def train_dataloader(self) -> DataLoader:
        ds = RandomWindows(
            self.sets, self.train_index, self.hparams.context + 1, self.hparams.target, self.hparams.seed
        )
        workers = self.hparams.num_workers
        return DataLoader(ds, batch_size=self.hparams.batch_size, collate_fn=collate,
                          num_workers=workers, persistent_workers=workers > 0)  # fmt: skip

    def val_dataloader(self) -> DataLoader:
        n, tgt = self.hparams.context + 1, self.hparams.target
        rows = [(self.sets[si].meta["group"], read_window(self.sets[si], t, s, n, tgt)) for si, t, s in self.val_rows]
        return DataLoader(rows, batch_size=self.hparams.batch_size, collate_fn=collate)

    def eval_tasks(self) -> list[dict]:
        """Held-out task batches: {"group", "family", "tasks"} per batch."""
        items = []
        for hs in self.sets:
            tasks = [int(t) for t in hs.split["test"]][: self.hparams.max_test_tasks]
            k = self.hparams.test_tasks_per_batch
            items += [{"group": hs.meta["group"], "family": hs.meta["family"], "tasks": tasks[i : i + k]}
                      for i in range(0, len(tasks), k)]  # fmt: skip
        return items

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.eval_tasks(), batch_size=None, collate_fn=lambda x: x)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()
