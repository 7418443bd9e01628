"""`DeviceWindows`: training windows of learning histories gathered on the accelerator.

The same samples as `HistoryDataModule`'s loader (`data.read_window`), drawn from the same distribution,
without a per-sample Python loop: the training tasks' streams are read once into one padded tensor per
field on `device`, and a batch of windows is one gather. Grid-world histories are small (Dark Room: 65
goals x 40k steps; Key-to-Door: 1000 x 80k), so they fit on a GPU; the memory-mapped loader stays the path
for sets that do not.

Sampling (Vintix, arXiv 2501.19400, Sec. 3.1: proportional to data volume): a task is drawn with
probability proportional to its number of windows, then a window start uniformly among its starts
{0, stride, 2 stride, ...}; this is the uniform draw over all (task, start) pairs of `WindowIndex`.
A sample of `length = context + 1` steps from start s gives inputs obs[s+1:], prev_act = act[s:-1],
prev_rew = rew[s:-1], step_num[s+1:] and targets act[s+1:] (or demo_act).
"""

from __future__ import annotations

import numpy as np
import torch

from litlab.rl.histories.store import HistorySet

FIELDS = ("obs", "act", "demo_act", "rew", "step_num")


class DeviceWindows:
    """All training tasks of one history set on `device`; `sample(batch)` returns one group's batch.

    Args:
        hs: the history set (one group).
        context: tokens per sample (a window is context + 1 steps).
        split: which tasks ("train", or "test" for held-out histories).
        stride: a window starts every `stride` steps.
        target: "act" (AD) or "demo_act" (DPT-style).
        device: where the streams live and batches are made.
        seed: the sampling generator's seed.
    """

    def __init__(self, hs: HistorySet, context: int, split: str = "train", stride: int = 1, target: str = "act",
                 device: str | torch.device = "cpu", seed: int = 0) -> None:  # fmt: skip
        if target not in ("act", "demo_act"):
            raise ValueError(f"target must be 'act' or 'demo_act', got {target!r}")
        if context < 2 or stride < 1:
            raise ValueError(f"need context >= 2 and stride >= 1, got context={context}, stride={stride}")
        self.group, self.length, self.stride, self.target = hs.meta["group"], context + 1, stride, target
        tasks = hs.tasks_of(split)
        steps = np.array([hs.streams[t].steps for t in tasks])
        counts = np.where(steps >= self.length, (steps - self.length) // stride + 1, 0)
        if not tasks or counts.sum() == 0:
            raise ValueError(f"no {split} window of {self.length} steps in {hs.root} (histories too short?)")
        self.tasks, self.device = tasks, torch.device(device)
        width = int(steps.max())
        self.data = {}
        for f in FIELDS:
            buf = np.zeros((len(tasks), width), np.float32 if f == "rew" else np.int32)
            for i, t in enumerate(tasks):
                buf[i, : steps[i]] = hs.streams[t].field(f, 0, int(steps[i]))
            self.data[f] = torch.as_tensor(buf, device=self.device)
        self.counts = torch.as_tensor(counts, dtype=torch.float64, device=self.device)
        self.gen = torch.Generator(self.device).manual_seed(seed)

    @property
    def num_windows(self) -> int:
        return int(self.counts.sum().item())

    def sample(self, batch: int) -> dict[str, dict[str, torch.Tensor]]:
        """{group: {obs, prev_act, prev_rew, step_num, act, rew, target}} with tensors [batch, context]."""
        task = torch.multinomial(self.counts, batch, replacement=True, generator=self.gen)
        u = torch.rand(batch, generator=self.gen, device=self.device, dtype=torch.float64)
        start = (u * self.counts[task]).long().clamp_max(self.counts[task].long() - 1) * self.stride
        return {self.group: self.gather(task, start)}

    def gather(self, task: torch.Tensor, start: torch.Tensor) -> dict[str, torch.Tensor]:
        """The samples of windows (task row, start) [N], as `read_window` cuts them."""
        cols = start[:, None] + torch.arange(self.length, device=self.device)  # (N, context + 1)
        rows = task[:, None].expand_as(cols)
        w = {f: v[rows, cols] for f, v in self.data.items()}
        return {
            "obs": w["obs"][:, 1:].long(), "prev_act": w["act"][:, :-1].long(), "prev_rew": w["rew"][:, :-1],
            "step_num": w["step_num"][:, 1:].long(), "act": w["act"][:, 1:].long(), "rew": w["rew"][:, 1:],
            "target": w[self.target][:, 1:].long(),
        }  # fmt: skip
