"""Bad input to the robotics data path and command ends in one clear line (it was a KeyError / IndexError /
silent acceptance): a LeRobot ``meta/info.json`` without ``fps`` or with a split beyond its episodes, FAST
``encode`` on chunks of another horizon or action dimension, and `python -m litlab.robotics` errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from litlab.robotics.cli import main
from litlab.robotics.data.lerobot_v3 import LeRobotV3Dataset
from litlab.robotics.tokenizers import FASTTokenizer

PROG = "python -m litlab.robotics: error:"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds") / "pm"
    args = ["generate", "--out", str(root), "--episodes", "4", "--val-episodes", "2", "--fps", "10",
            "--image-size", "16"]  # fmt: skip
    assert main(args) == 0
    return root


def edited(dataset, tmp_path, edit):  # noqa: ANN001
    """A copy of ``dataset`` whose info.json went through ``edit(info)``."""
    root = shutil.copytree(dataset, tmp_path / "copy")
    info_path = root / "meta" / "info.json"
    info = json.loads(info_path.read_text())
    edit(info)
    info_path.write_text(json.dumps(info))
    return root


def test_info_without_fps_names_the_file_and_the_key(dataset, tmp_path, capsys) -> None:  # noqa: ANN001
    root = edited(dataset, tmp_path, lambda info: info.pop("fps"))
    with pytest.raises(ValueError, match=r"meta/info.json: missing \['fps'\]; a LeRobot v3 info.json needs 'fps'"):
        LeRobotV3Dataset(root)
    assert main(["fit", "--dataset", str(root), "--out", str(tmp_path / "tok")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{PROG} ValueError: {root / 'meta' / 'info.json'}: missing ['fps']")
    assert len(err.splitlines()) == 2 and not (tmp_path / "tok").exists()


@pytest.mark.parametrize("fps", [0, -5, "fast", True])
def test_info_with_a_bad_fps_is_refused(dataset, tmp_path, fps) -> None:  # noqa: ANN001
    root = edited(dataset, tmp_path, lambda info: info.update(fps=fps))
    with pytest.raises(ValueError, match=f"'fps' is {fps!r}; expected a positive number"):
        LeRobotV3Dataset(root)


@pytest.mark.parametrize("split", ["4:9", "3:1", "x"])
def test_split_beyond_the_episodes_is_refused(dataset, tmp_path, split) -> None:  # noqa: ANN001
    root = edited(dataset, tmp_path, lambda info: info["splits"].update(val=split))
    ds = LeRobotV3Dataset(root)
    assert len(ds.episodes) == 6
    with pytest.raises(ValueError, match=f"split 'val' is {split!r}; expected 'start:stop' episodes with "
                                         r"0 <= start <= stop <= 6 \(the dataset has 6 episodes\)"):  # fmt: skip
        ds.split_episodes("val")
    assert ds.split_episodes("train").tolist() == [0, 1, 2, 3]


def test_fast_encode_refuses_chunks_of_another_shape(tmp_path) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    tok = FASTTokenizer(scale=10, vocab_size=300).fit(rng.uniform(-1, 1, (64, 10, 2)))
    assert len(tok.encode(rng.uniform(-1, 1, (3, 10, 2)))) == 3
    for shape, name, found in (((3, 12, 2), "horizon", 12), ((3, 10, 3), "action_dim", 3)):
        with pytest.raises(ValueError, match=rf"have {name} {found}; this tokenizer was fitted on \[N, 10, 2\]"):
            tok.encode(rng.uniform(-1, 1, shape))
    tok.save(tmp_path / "tok")
    with pytest.raises(ValueError, match="have horizon 12"):  # the fitted shape survives save / load
        FASTTokenizer.load(tmp_path / "tok").encode(rng.uniform(-1, 1, (3, 12, 2)))


def test_module_command_is_one_line_and_debug_shows_the_traceback(tmp_path) -> None:  # noqa: ANN001
    cmd = [sys.executable, "-m", "litlab.robotics", "report", "--dataset", str(tmp_path / "none"),
           "--tokenizer", str(tmp_path / "tok")]  # fmt: skip
    plain = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 1 and plain.stderr.startswith(PROG) and "Traceback" not in plain.stderr
    assert len(plain.stderr.splitlines()) == 2
    debug = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "LITLAB_DEBUG": "1"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr
