"""DeviceWindows: the same samples as the memory-mapped loader, drawn in proportion to data volume."""

import json

import numpy as np
import pytest
import torch

from litlab.rl.histories.store import HistorySet, write_task
from litlab.rl.icrl import DeviceWindows
from litlab.rl.icrl.data import read_window

LENGTHS = {0: 30, 1: 60, 2: 120}  # steps per task: windows of 10 steps = 21, 51, 111
# a sample tells its task (obs // 8) and its start (rew holds the step index: prev_rew[0] = start)


@pytest.fixture()
def uneven_set(tmp_path):
    rng = np.random.default_rng(0)
    for task, n in LENGTHS.items():
        arrays = {
            "obs": (8 * task + rng.integers(0, 8, n)).astype(np.int32), "act": rng.integers(0, 5, n).astype(np.int16),
            "demo_act": rng.integers(0, 5, n).astype(np.int16), "rew": np.arange(n, dtype=np.float32),
            "step_num": (np.arange(n) % 10).astype(np.int32), "eps": np.ones(n, np.float32),
        }  # fmt: skip
        meta = {"group": "g", "episodes": n // 10, "episode_returns": [], "random_return": 0.0, "expert_return": 1.0}
        write_task(tmp_path, task, arrays, meta, chunk_size=16)  # chunks of 16: windows cross chunk borders
    meta = {"family": "darkroom_tiny", "group": "g", "fields": [], "chunk_size": 16, "tasks": [0, 1, 2],
            "split": {"train": [0, 1, 2], "test": []}, "num_obs": 25, "num_actions": 5}  # fmt: skip
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    return HistorySet(tmp_path)


@pytest.mark.parametrize("target", ["act", "demo_act"])
def test_gather_equals_read_window(uneven_set, target):
    dw = DeviceWindows(uneven_set, context=9, target=target)
    task, start = torch.tensor([0, 1, 2, 2, 1]), torch.tensor([0, 17, 110, 5, 50])
    got = dw.gather(task, start)
    for i, (t, s) in enumerate(zip(task.tolist(), start.tolist(), strict=True)):
        want = read_window(uneven_set, t, s, 10, target)
        for key, value in want.items():
            assert got[key].shape == (5, 9)
            np.testing.assert_array_equal(got[key][i].numpy(), value.astype(got[key].numpy().dtype), err_msg=key)


def test_windows_are_drawn_in_proportion_to_data_volume(uneven_set):
    dw = DeviceWindows(uneven_set, context=9, seed=3)
    assert dw.num_windows == 21 + 51 + 111
    b = dw.sample(40_000)["g"]
    assert b["obs"].shape == (40_000, 9) and b["target"].dtype == torch.long
    task = b["obs"][:, 0] // 8
    freq = torch.bincount(task, minlength=3).double() / 40_000
    p = torch.tensor([21, 51, 111], dtype=torch.float64) / 183
    assert torch.all((freq - p).abs() < 4 * torch.sqrt(p * (1 - p) / 40_000)), freq


def test_starts_are_uniform_and_respect_the_stride(uneven_set):
    dw = DeviceWindows(uneven_set, context=9, stride=4, seed=1)
    assert dw.counts.tolist() == [6, 13, 28]  # starts 0, 4, ... <= steps - 10
    b = dw.sample(30_000)["g"]
    task, start = b["obs"][:, 0] // 8, b["prev_rew"][:, 0].long()
    last = torch.tensor([LENGTHS[t] - 10 for t in range(3)])
    assert torch.all(start % 4 == 0) and torch.all(start <= last[task])
    hist = torch.bincount(start[task == 0] // 4, minlength=6).double()
    assert hist.shape == (6,) and hist.min() / hist.max() > 0.8  # the 6 starts of task 0 about equally often
    assert torch.all(b["prev_rew"][:, 1:] - b["prev_rew"][:, :-1] == 1)  # contiguous steps


def test_bad_arguments_are_refused(uneven_set):
    with pytest.raises(ValueError, match="target must be"):
        DeviceWindows(uneven_set, context=9, target="reward")
    with pytest.raises(ValueError, match="no train window of 200 steps"):
        DeviceWindows(uneven_set, context=199)
    with pytest.raises(ValueError, match="no test window"):
        DeviceWindows(uneven_set, context=9, split="test")
