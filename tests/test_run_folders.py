"""Runs never clobber or silently change each other: run folders, resume, checkpoints of other runs, options.

Each case was a defect of the `litlab` command: two fits started together shared `version_0`; `--ckpt_path`
replaced command-line model arguments (or the model class) with the checkpoint's; a resume logged to a new
folder, deleted nothing but lost its first rows of `metrics.csv`, and Ctrl-C saved nothing; option
prefixes were taken as options; `--run_name=../x` wrote outside the runs root.
"""

from __future__ import annotations

import csv
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from cli_fixtures import BASE, LITLAB

from litlab.shared.cli import main


@pytest.fixture
def recipe(tmp_path: Path) -> list[str]:
    path = tmp_path / "reg.yaml"
    path.write_text(yaml.safe_dump(BASE))
    return ["--config", str(path), "--trainer.default_root_dir", str(tmp_path / "runs")]


def steps(run: Path) -> list[int]:
    with open(run / "metrics.csv", newline="") as f:
        return [int(row["step"]) for row in csv.DictReader(f) if row.get("train/loss")]


def error_of(capsys, args: list[str]) -> tuple[int, str]:  # noqa: ANN001
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code, capsys.readouterr().err


def test_two_fits_started_together_get_two_run_folders(tmp_path: Path, recipe: list[str], cli_env: dict) -> None:
    procs = [subprocess.Popen([*LITLAB, "fit", *recipe], cwd=tmp_path, env=cli_env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    assert [p.wait(timeout=300) for p in procs] == [0, 0], [p.stderr.read()[-2000:] for p in procs]
    runs = sorted(p.name for p in (tmp_path / "runs" / "reg").iterdir())
    assert runs == ["version_0", "version_1"]
    for name in runs:
        run = tmp_path / "runs" / "reg" / name
        assert steps(run) == [0, 1, 2]  # each run's own rows, none interleaved
        assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 3
        assert (run / "config.yaml").is_file()


def test_resume_continues_its_run_folder_and_keeps_its_rows(tmp_path: Path, recipe: list[str], capfd) -> None:  # noqa: ANN001
    main(["fit", *recipe])
    run = tmp_path / "runs" / "reg" / "version_0"
    capfd.readouterr()
    main(["fit", *recipe, "--trainer.max_steps=6", "--trainer.enable_progress_bar=true",
          "--ckpt_path", str(run / "checkpoints" / "last.ckpt")])  # fmt: skip
    out = capfd.readouterr()
    assert f"logging on in {run}" in out.err
    assert "6/6" in out.out and "6/3" not in out.out  # the bar counts the resumed epoch's first 3 batches
    assert sorted(p.name for p in run.parent.iterdir()) == ["version_0"]
    assert steps(run) == [0, 1, 2, 3, 4, 5]
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 6


def test_resume_from_a_checkpoint_elsewhere_says_where_it_logs(tmp_path: Path, recipe: list[str], capsys) -> None:  # noqa: ANN001
    main(["fit", *recipe])
    copied = shutil.copy(tmp_path / "runs/reg/version_0/checkpoints/last.ckpt", tmp_path / "copy.ckpt")
    capsys.readouterr()
    main(["fit", *recipe, "--trainer.max_steps=4", "--ckpt_path", str(copied)])
    assert f"logging to {tmp_path / 'runs/reg/version_1'}" in capsys.readouterr().err
    assert steps(tmp_path / "runs/reg/version_1") == [3]


def test_ckpt_path_with_other_model_arguments_is_refused_naming_the_keys(tmp_path, recipe, capsys) -> None:  # noqa: ANN001
    main(["fit", *recipe])
    ckpt = str(tmp_path / "runs/reg/version_0/checkpoints/last.ckpt")
    code, err = error_of(capsys, ["fit", *recipe, "--model.init_args.lr=1e-5", "--model.init_args.hidden=4",
                                  "--trainer.max_steps=6", "--ckpt_path", ckpt])  # fmt: skip
    assert code == 1 and err.startswith("litlab: error: ValueError: --ckpt_path:")
    assert "model.init_args.lr: command line 1e-05, checkpoint 0.05" in err and "hidden" not in err  # same value
    code, err = error_of(capsys, ["test", *recipe, "--model.init_args.lr=1e-5", "--ckpt_path", ckpt])
    assert code == 1 and "model.init_args.lr" in err
    main(["fit", *recipe, "--trainer.max_steps=4", "--ckpt_path", ckpt])  # the same arguments resume


def test_ckpt_path_of_another_module_class_is_refused_by_name(tmp_path, recipe, capsys) -> None:  # noqa: ANN001
    main(["fit", *recipe])
    ckpt = str(tmp_path / "runs/reg/version_0/checkpoints/last.ckpt")
    other = ["--model.class_path=cli_fixtures.SequenceRegression"]
    code, err = error_of(capsys, ["fit", *recipe, *other, "--trainer.max_steps=4", "--ckpt_path", ckpt])
    assert code == 1
    expected = "is a checkpoint of cli_fixtures.RegressionModel, but the model given is cli_fixtures.SequenceRegression"
    assert expected in err


def test_interrupt_saves_last_ckpt_and_resume_goes_on_from_it(tmp_path: Path, recipe: list[str], capsys) -> None:  # noqa: ANN001
    interrupt = ["--trainer.max_steps=20", "--trainer.callbacks+=run_fixtures.InterruptAt",
                 "--trainer.callbacks.init_args.step=5"]  # fmt: skip
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as exit_info:  # Lightning exits 1 after Ctrl-C
            main(["fit", *recipe, *interrupt])
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores SIGINT after its graceful shutdown
    run = tmp_path / "runs" / "reg" / "version_0"
    assert exit_info.value.code == 1 and "interrupted at step 5; saved" in capsys.readouterr().out
    last = run / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["global_step"] == 5  # mid-epoch: no scheduled save before 8
    main(["fit", *recipe, "--trainer.max_steps=7", "--ckpt_path", str(last)])
    rows = steps(run)  # the interrupted batch's row is not logged (Lightning logs after on_train_batch_end)
    assert rows[:4] == [0, 1, 2, 3] and rows[-2:] == [5, 6] and rows == sorted(set(rows))
    assert not (run.parent / "version_1").exists()


@pytest.mark.parametrize("option", ["--trainer.max_step=5", "--trainer.max_s=2", "--run_n=x"])
def test_option_prefixes_are_not_options(recipe: list[str], capsys, option: str) -> None:  # noqa: ANN001
    code, err = error_of(capsys, ["fit", *recipe, option])
    assert code == 2 and f"unrecognized arguments: {option}" in err


@pytest.mark.parametrize("name", ["../escape", "a/b", "/abs", ".hidden", ""])
def test_run_name_that_leaves_the_runs_root_is_refused(tmp_path: Path, recipe: list[str], capsys, name) -> None:  # noqa: ANN001
    if not name:  # an empty name falls back to the recipe's stem
        main(["fit", *recipe, "--run_name="])
        assert (tmp_path / "runs" / "reg" / "version_0").is_dir()
        return
    code, err = error_of(capsys, ["fit", *recipe, f"--run_name={name}"])
    assert code == 1 and f"--run_name: {name!r} is not a plain folder name" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reg.yaml"]  # nothing written anywhere


def test_negative_max_steps_is_one_line(recipe: list[str], capsys) -> None:  # noqa: ANN001
    code, err = error_of(capsys, ["fit", *recipe, "--trainer.max_steps=-5"])
    assert code == 1 and "max_steps" in err and "-5" in err and "Traceback" not in err
    assert err.startswith("litlab: error:") and len(err.splitlines()) == 2


def test_unwritable_runs_root_is_one_line_naming_the_folder(tmp_path, recipe, capsys, monkeypatch) -> None:  # noqa: ANN001
    # chmod cannot stop root (the CI user here), so the denied mkdir is simulated where the run folder is made
    real_mkdir = Path.mkdir

    def denied(self: Path, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        if "runs" in self.parts:
            raise PermissionError(13, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", denied)
    code, err = error_of(capsys, ["fit", *recipe])
    folder = str(tmp_path / "runs" / "reg")
    assert code == 1 and f"--trainer.default_root_dir: cannot create the run folder {folder!r}" in err
    assert "Permission denied" in err and "expected a writable folder" in err
