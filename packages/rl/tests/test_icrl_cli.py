"""`litlab fit` of each icrl recipe with each backbone overlay: a few steps and one evaluation."""

from pathlib import Path

import numpy as np
import pytest

from litlab.rl.envs import get_spec
from litlab.rl.histories import generate
from litlab.shared.cli import main

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("icrl_cli") / "tiny"
    spec = get_spec("darkroom_tiny")
    tasks = [int(t) for t in np.concatenate([spec.split()["train"][:4], spec.split()["test"][:1]])]
    generate(root, spec, tasks, 30, 0.3, tasks_per_job=5)
    return root


@pytest.mark.parametrize("recipe, overlay", [("icrl-darkroom", "icrl-lightning"), ("icrl-keydoor", "icrl-softmax")])
def test_recipe_fits_and_evaluates(tiny_set, tmp_path, recipe, overlay):
    main([
        "fit", "--config", str(ROOT / "configs/trainer/cpu.yaml"), "--config", str(ROOT / f"configs/rl/{recipe}.yaml"),
        "--config", str(ROOT / f"configs/rl/{overlay}.yaml"), f"--data.init_args.paths=[{tiny_set}]",
        "--data.init_args.context=20", "--data.init_args.batch_size=4", "--data.init_args.max_test_tasks=2",
        "--model.init_args.backbone.init_args.dim=34", "--model.init_args.backbone.init_args.num_layers=1",
        "--trainer.max_steps=2", "--trainer.val_check_interval=2", "--trainer.limit_val_batches=1",
        "--trainer.default_root_dir", str(tmp_path), "--trainer.enable_progress_bar=false", "--run_name", recipe,
    ])  # fmt: skip
    run = tmp_path / recipe / "version_0"
    rows = (run / "icrl_eval.csv").read_text().splitlines()
    assert rows[0].startswith("step,shot,return_mean") and len(rows) == 1 + 30  # one evaluation, 30 shots
    assert (run / "icrl_eval.png").stat().st_size > 0
