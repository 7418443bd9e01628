"""`python -m litlab.rl.offline` on bad input: one line, exit code 1, nothing written or replaced.

Defects fixed: existing datasets at --out were overwritten without asking; HalfCheetah at toy sizes wrote
datasets with NaN reference returns, and "expert return <= random return" was only a warning, both exiting 0
after writing datasets `litlab fit` refuses; an unknown or discrete env ended in a gymnasium traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("gymnasium")
from litlab.rl.offline.__main__ import _check_targets, _reference_returns, main  # noqa: E402

PROG = "python -m litlab.rl.offline: error:"


def run(capsys, *args: str) -> tuple[int, str]:  # noqa: ANN001
    code = main(list(args))
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ("Nope-v0", "--env: 'Nope-v0' is not a registered gymnasium environment (expected e.g. Hopper-v5)"),
        ("hopper-v5", "did you mean ['Hopper-v2', 'Hopper-v3', 'Hopper-v4', 'Hopper-v5']"),
        ("CartPole-v1", "--env: 'CartPole-v1' has the action space Discrete(2); expected a continuous Box in [-1, 1]"),
    ],
)
def test_unknown_or_discrete_env_is_one_line(tmp_path, capsys, env: str, expected: str) -> None:  # noqa: ANN001
    code, err = run(capsys, "--env", env, "--out", str(tmp_path / "out"))
    assert code == 1 and err.startswith(f"{PROG} ValueError: ") and expected in err
    assert len(err.splitlines()) == 2 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_no_finished_random_episode_is_refused_before_training(tmp_path, capsys) -> None:  # noqa: ANN001
    # HalfCheetah episodes last 1000 steps: 400 transitions over 2 envs end none (the mean return was NaN)
    code, err = run(capsys, "--env", "HalfCheetah-v5", "--out", str(tmp_path), "--random-size", "400",
                    "--num-envs", "2", "--sac-steps", "200", "--checkpoint-every", "100")  # fmt: skip
    assert code == 1 and "--random-size 400: no random episode ended in 400 transitions over 2 environments" in err
    assert "(nothing was written)" in err and list(tmp_path.iterdir()) == []


def _args(**kw) -> argparse.Namespace:  # noqa: ANN003
    return argparse.Namespace(**{"random_size": 100, "expert_size": 100, "num_envs": 2, "sac_steps": 500, **kw})


def test_expert_not_above_random_is_an_error_not_a_warning() -> None:
    assert _reference_returns(_args(), [1.0, 3.0], [10.0]) == (2.0, 10.0)
    expected = r"--sac-steps 500: the expert return 2\.0 does not exceed the random return 2\.0"
    with pytest.raises(ValueError, match=expected):
        _reference_returns(_args(), [1.0, 3.0], [2.0])
    with pytest.raises(ValueError, match="--expert-size 100: no expert episode ended"):
        _reference_returns(_args(), [1.0], [])


def test_existing_datasets_are_never_replaced_without_overwrite(tmp_path, capsys) -> None:  # noqa: ANN001
    medium = tmp_path / "hopper-medium-v5"
    medium.mkdir()
    (medium / "litlab_offline.json").write_text(json.dumps({"hand": "made"}))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, err = run(capsys, "--env", "Hopper-v5", "--out", str(tmp_path))
    assert code == 1 and f"--out: datasets already exist at [{str(medium)!r}]; pass --overwrite" in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert json.loads((medium / "litlab_offline.json").read_text()) == {"hand": "made"}
    _check_targets(tmp_path, "hopper", overwrite=True)  # with --overwrite, a litlab dataset may be replaced


def test_a_folder_that_is_not_a_dataset_is_refused_even_with_overwrite(tmp_path, capsys) -> None:  # noqa: ANN001
    (tmp_path / "hopper-expert-v5").mkdir()
    (tmp_path / "hopper-expert-v5" / "notes.txt").write_text("mine")
    code, err = run(capsys, "--env", "Hopper-v5", "--out", str(tmp_path), "--overwrite")
    assert code == 1 and "are not litlab offline datasets (no litlab_offline.json)" in err
    assert (tmp_path / "hopper-expert-v5" / "notes.txt").read_text() == "mine"


def test_debug_shows_the_traceback(tmp_path) -> None:  # noqa: ANN001
    cmd = [sys.executable, "-m", "litlab.rl.offline", "--env", "Nope-v0", "--out", str(tmp_path)]
    plain = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 1 and plain.stderr.startswith(PROG) and "Traceback" not in plain.stderr
    debug = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "LITLAB_DEBUG": "1"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ValueError: --env" in debug.stderr
