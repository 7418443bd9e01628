"""Noise schedules against their formulas; histories written, reread and resumed exactly; bad sets refused."""

import json
import shutil

import numpy as np
import pytest

from litlab.rl.envs import get_spec
from litlab.rl.histories import (
    HistorySet,
    ad_eps,
    ad_eps_histories,
    calibrate_eps_end,
    continuous_noise,
    generate,
    mix_continuous,
    report,
)
from litlab.rl.histories.__main__ import main as histories_main

SPEC = get_spec("darkroom_tiny")


def test_ad_eps_hand_values():
    # N = 10 episodes of T = 4 steps: the floor 0.2 is reached at n = 0.9 * 40 = 36, slope 0.8 / 36 per step
    n = np.array([0, 9, 18, 35, 36, 39])
    assert np.allclose(ad_eps(n, 10, 4, 0.2), [1.0, 0.8, 0.6, 1 - 0.8 * 35 / 36, 0.2, 0.2])
    assert np.allclose(ad_eps(n, 10, 4, 0.0)[-2:], 0.0)  # eps_end = 0 gives optimal data (not all-random)
    with pytest.raises(ValueError, match="eps_end"):
        ad_eps(n, 10, 4, 1.5)


def test_continuous_noise_hand_values():
    # N = 100, f = 0.2: the noise ends at n = 80; p = 2 gives sqrt(1 - (n/80)^2)
    n = np.array([0, 40, 80, 90])
    assert np.allclose(continuous_noise(n, 100, 0.2, 1.0), [1.0, 0.5, 0.0, 0.0])
    assert np.allclose(continuous_noise(n, 100, 0.2, 2.0), [1.0, np.sqrt(0.75), 0.0, 0.0])
    a = mix_continuous(np.array([[1.0, -1.0]]), np.array([[0.0, 0.5]]), np.array([0.25]))
    assert np.allclose(a, [[0.75, -0.625]])


def test_histories_follow_the_schedule_and_the_oracle():
    tasks = np.array([3, 11])
    hs = ad_eps_histories(SPEC, tasks, episodes=30, eps_end=0.0, seed=0)
    for h in hs:
        assert len(h["obs"]) == 30 * SPEC.horizon and len(h["episode_returns"]) == 30
        n = np.arange(len(h["obs"]))
        assert np.allclose(h["eps"], ad_eps(n, 30, SPEC.horizon, 0.0))
        assert np.array_equal(h["step_num"], n % SPEC.horizon)
        tail = n >= 0.9 * len(n)  # eps = 0 there: the executed action is the demonstrator's
        assert np.array_equal(h["act"][tail], h["demo_act"][tail])
        assert h["episode_returns"][-1] > h["episode_returns"][:3].mean()


def test_calibration_hits_the_quality():
    tasks = SPEC.split()["train"]
    eps = calibrate_eps_end(SPEC, tasks, 0.5, episodes=100)
    from litlab.rl.envs import oracle_returns
    from litlab.rl.histories.generate import eps_greedy_return

    ratio = eps_greedy_return(SPEC, tasks, eps, 400, seed=5) / oracle_returns(SPEC, tasks).mean()
    assert 0.45 < ratio < 0.55 and 0 < eps < 1


def _gen(root, **kw):
    return generate(root, SPEC, list(range(10)), 12, 0.3, seed=1, tasks_per_job=3, chunk_size=50, **kw)


def test_write_reread_exactly(tmp_path):
    _gen(tmp_path / "h")
    hs = HistorySet(tmp_path / "h", check_values=True)
    direct = ad_eps_histories(SPEC, np.array([3, 4, 5]), 12, 0.3, seed=1)
    for task, h in zip([3, 4, 5], direct, strict=True):
        got = hs.streams[task].read_all()
        for f in ("obs", "act", "demo_act", "rew", "step_num", "eps"):
            assert np.array_equal(got[f], h[f]), f
        assert hs.streams[task].meta["episode_returns"] == h["episode_returns"].tolist()
    s = hs.streams[4]  # a window across the chunk boundary at 50
    assert np.array_equal(s.window(45, 10)["obs"], direct[1]["obs"][45:55])
    assert hs.split["test"] == SPEC.split()["test"].tolist()


def test_resume_writes_the_same_data(tmp_path):
    _gen(tmp_path / "full")
    _gen(tmp_path / "cut")
    shutil.rmtree(tmp_path / "cut" / "task_00004")  # lost mid-run
    (tmp_path / "cut" / "task_00007" / "meta.json").unlink()  # interrupted before its meta.json
    calls = []
    _gen(tmp_path / "cut", progress=calls.append)
    assert calls == [7, 10]  # 4 tasks kept, then the jobs (3, 4, 5) and (6, 7, 8) again
    for t in range(10):
        a, b = HistorySet(tmp_path / "full").streams[t], HistorySet(tmp_path / "cut").streams[t]
        assert all(np.array_equal(a.read_all()[f], b.read_all()[f]) for f in ("obs", "act", "eps"))


def test_a_different_set_in_the_same_folder_is_refused(tmp_path):
    _gen(tmp_path / "h")
    with pytest.raises(ValueError, match="different history set"):
        generate(tmp_path / "h", SPEC, list(range(10)), 12, 0.5, seed=1, tasks_per_job=3, chunk_size=50)


def test_bad_histories_are_rejected(tmp_path):
    root = tmp_path / "h"
    _gen(root)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        HistorySet(tmp_path / "nope")
    meta = json.loads((root / "task_00002" / "meta.json").read_text())
    (root / "task_00002" / "meta.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "group"}))
    with pytest.raises(ValueError, match=r"task 2: .* lacks keys \['group'\]"):
        HistorySet(root)
    (root / "task_00002" / "meta.json").write_text(json.dumps({**meta, "steps": 0}))
    with pytest.raises(ValueError, match="task 2 is empty"):
        HistorySet(root)
    (root / "task_00002" / "meta.json").write_text(json.dumps(meta))
    rew = np.load(root / "task_00002" / "rew.00001.npy")
    rew[7] = np.nan
    np.save(root / "task_00002" / "rew.00001.npy", rew)
    HistorySet(root)  # opening alone reads no values
    with pytest.raises(ValueError, match=r"task 2: field 'rew' has NaN/inf values \(first at step 57\)"):
        HistorySet(root, check_values=True)
    (root / "task_00003" / "meta.json").unlink()
    with pytest.raises(ValueError, match="task 3 is incomplete"):
        HistorySet(root)
    top = json.loads((root / "metadata.json").read_text())
    (root / "metadata.json").write_text(json.dumps({**top, "tasks": []}))
    with pytest.raises(ValueError, match="lists no tasks"):
        HistorySet(root)


def test_command_generates_reports_and_plots(tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["--family", "darkroom_tiny", "--out", str(out), "--episodes", "300", "--quality", "0.5", "--max-tasks", "6"]
    assert histories_main(args) == 0
    assert (out / "return_curves.png").stat().st_size > 0
    summary = report(out, plot=False)["summary"]
    assert summary["rise"] > 0.8 and 0.3 < summary["quality"] < 0.7
    assert "calibrated eps_end" in capsys.readouterr().out
