"""`litlab fit` with each rl recipe: a few steps and one evaluation on a tiny generated dataset."""

import csv
from pathlib import Path

import pytest

from litlab.shared.cli import main

ROOT = Path(__file__).resolve().parents[3]
RECIPES = ["fql-hopper", "fql-halfcheetah", "fql-walker2d", "bc-hopper", "iql-hopper", "rebrac-hopper"]


def fit(recipe: str, data: Path, root: Path, *extra: str) -> None:
    main([
        "fit", "--config", str(ROOT / "configs/trainer/cpu.yaml"), "--config", str(ROOT / f"configs/rl/{recipe}.yaml"),
        "--data.init_args.path", str(data), "--data.init_args.batch_size=32",
        "--model.init_args.hidden_dims=[32,32]", "--trainer.max_steps=3", "--trainer.default_root_dir", str(root),
        "--trainer.enable_progress_bar=false", "--trainer.log_every_n_steps=1", *extra,
    ])  # fmt: skip


@pytest.mark.slow
def test_fql_recipe_fits_and_evaluates(hopper_dataset, tmp_path):
    fit("fql-hopper", hopper_dataset, tmp_path)
    run = tmp_path / "fql-hopper" / "version_0"
    rows = list(csv.DictReader(open(run / "eval.csv")))
    assert len(rows) == 1 and rows[0]["step"] == "3.0"  # the one evaluation, at the end
    assert (run / "eval_curve.png").stat().st_size > 0
    metrics = open(run / "metrics.csv").read()
    assert "train/critic_loss" in metrics and "train/distill_loss" in metrics and "eval/normalized_return" in metrics


@pytest.mark.slow
@pytest.mark.parametrize("recipe", [r for r in RECIPES if r != "fql-hopper"])
def test_other_recipes_parse_and_fit(recipe, hopper_dataset, tmp_path):
    # every recipe runs on any dataset: the env family only sets defaults (alpha, path)
    fit(recipe, hopper_dataset, tmp_path, "--trainer.callbacks=[]", "--trainer.max_steps=2")
    assert (tmp_path / recipe / "version_0" / "metrics.csv").is_file()


def test_missing_dataset_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit):  # the recipe would generate it: without data.generate, one clear error
        fit("fql-hopper", tmp_path / "nope", tmp_path, "--data.init_args.generate=null")
    assert "does not exist" in capsys.readouterr().err
