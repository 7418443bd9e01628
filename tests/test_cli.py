"""The `litlab` CLI: config composition, cross-module injection, resume, and clean errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from cli_fixtures import BASE, LITLAB

from litlab.shared.cli import main

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, content: dict) -> str:
    path.write_text(yaml.safe_dump(content))
    return str(path)


def run_cli(args: list[str], tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(LITLAB + args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_two_configs_merge_in_order_and_logs_go_to_runs(tmp_path: Path) -> None:
    base = write(tmp_path / "base.yaml", BASE)
    over = write(tmp_path / "regression.yaml", {"model": {"init_args": {"lr": 0.123}}, "trainer": {"max_steps": 2}})
    root = tmp_path / "out"
    main(["fit", "--config", base, "--config", over, "--trainer.default_root_dir", str(root)])
    run_dir = root / "regression" / "version_0"  # named after the last recipe config
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["model"]["init_args"]["lr"] == 0.123  # the second file overrides the first
    assert saved["trainer"]["max_steps"] == 2
    assert saved["seed_everything"] == 42
    assert (run_dir / "metrics.csv").exists()
    assert list(run_dir.glob("events.out.tfevents.*"))
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    main(["fit", "--config", base, "--config", over, "--trainer.default_root_dir", str(root)])
    assert (root / "regression" / "version_1" / "config.yaml").exists()  # a new version per run


def test_injected_module_is_built_from_its_class_path(tmp_path: Path) -> None:
    base = write(tmp_path / "base.yaml", BASE)
    backbone_cfg = {
        "class_path": "torch.nn.Bilinear",
        "init_args": {"in1_features": 4, "in2_features": 4, "out_features": 6},
    }
    over = write(tmp_path / "inject.yaml", {"model": {"init_args": {"backbone": backbone_cfg, "hidden": 6}}})
    from lightning.pytorch.cli import LightningCLI

    captured = {}
    original = LightningCLI.after_instantiate_classes

    def grab(self):  # noqa: ANN001
        captured["model"] = self.model
        return original(self)

    LightningCLI.after_instantiate_classes = grab
    try:
        main(["fit", "--config", base, "--config", over, "--trainer.default_root_dir", str(tmp_path / "o")])
    finally:
        LightningCLI.after_instantiate_classes = original
    backbone = captured["model"].backbone
    assert isinstance(backbone, torch.nn.Bilinear) and backbone.out_features == 6


@pytest.mark.parametrize("null", ["null", "None"])
def test_null_two_init_args_deep_reaches_the_module_as_none(tmp_path: Path, null: str) -> None:
    """`--model.init_args.backbone.init_args.clip=null` turns an optional argument off (jsonargparse alone
    forwards it one level down as the string 'None' and rejects it for a `float | None` argument)."""
    backbone = {"class_path": "cli_fixtures.ClampedLinear", "init_args": {"clip": 0.5}}
    config = {**BASE, "model": {**BASE["model"], "init_args": {"backbone": backbone}}}
    root = tmp_path / "out"
    override = f"--model.init_args.backbone.init_args.clip={null}"
    main(["fit", "--config", write(tmp_path / "clamp.yaml", config), override, "--trainer.default_root_dir", str(root)])
    saved = yaml.safe_load((root / "clamp" / "version_0" / "config.yaml").read_text())
    assert saved["model"]["init_args"]["backbone"]["init_args"]["clip"] is None
    main(["fit", "--config", write(tmp_path / "clamp.yaml", config), "--trainer.default_root_dir", str(root)])
    saved = yaml.safe_load((root / "clamp" / "version_1" / "config.yaml").read_text())
    assert saved["model"]["init_args"]["backbone"]["init_args"]["clip"] == 0.5  # without the override


def test_resume_from_checkpoint_continues_the_step_count(tmp_path: Path) -> None:
    base = write(tmp_path / "base.yaml", BASE)
    root = tmp_path / "out"
    main(["fit", "--config", base, "--trainer.max_steps=4", "--trainer.default_root_dir", str(root)])
    ckpt = root / "base" / "version_0" / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, weights_only=False)["global_step"] == 4
    resumed = tmp_path / "resumed.ckpt"
    shutil.copy(ckpt, resumed)
    main(
        [
            "fit",
            "--config",
            base,
            "--trainer.max_steps=7",
            "--trainer.default_root_dir",
            str(root),
            "--ckpt_path",
            str(resumed),
        ]
    )
    last = torch.load(root / "base" / "version_1" / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["global_step"] == 7
    assert last["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]["completed"] == 7


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("--model.class_path=cli_fixtures.NoSuchModel", "has no attribute 'NoSuchModel'"),
        ("--model.init_args.no_such_key=3", "'no_such_key' is not accepted"),
        ("--config=does-not-exist.yaml", "does-not-exist.yaml"),
    ],
)
def test_bad_config_gives_one_clear_error(tmp_path: Path, cli_env: dict, override: str, expected: str) -> None:
    base = write(tmp_path / "base.yaml", BASE)
    result = run_cli(["fit", "--config", base, override], tmp_path, cli_env)
    assert result.returncode == 2
    assert expected in result.stderr
    assert result.stderr.startswith("litlab: error:")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) < 12  # a message, not a usage wall


def test_error_raised_while_building_a_module_is_one_line(tmp_path: Path, cli_env: dict) -> None:
    bad = dict(BASE, data={"class_path": "cli_fixtures.RegressionData", "init_args": {"num_samples": -1}})
    result = run_cli(["fit", "--config", write(tmp_path / "bad.yaml", bad)], tmp_path, cli_env)
    assert result.returncode == 1
    assert "litlab: error:" in result.stderr and "Traceback" not in result.stderr


def test_missing_required_argument_names_the_key(tmp_path: Path, cli_env: dict) -> None:
    no_backbone = {"model": {"class_path": "cli_fixtures.RegressionModel"}, "data": BASE["data"]}
    result = run_cli(["fit", "--config", write(tmp_path / "nb.yaml", no_backbone)], tmp_path, cli_env)
    assert result.returncode == 2
    assert "backbone" in result.stderr and "Traceback" not in result.stderr


def test_help_lists_every_installed_member(tmp_path: Path, cli_env: dict) -> None:
    result = run_cli(["fit", "--help"], tmp_path, cli_env)
    assert result.returncode == 0
    for member in ("attention", "alignment", "rl", "robotics"):
        assert f"  {member}: models:" in result.stdout


def test_model_that_makes_its_own_data_runs_without_a_datamodule(tmp_path: Path) -> None:
    config = {"model": dict(BASE["model"], class_path="cli_fixtures.SelfFeedingModel"), "trainer": BASE["trainer"]}
    root = tmp_path / "out"
    main(["fit", "--config", write(tmp_path / "agent.yaml", config), "--trainer.default_root_dir", str(root)])
    assert (
        torch.load(root / "agent" / "version_0" / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 3
    )


def test_attention_backbone_is_injected_into_another_module(tmp_path: Path) -> None:
    """The cross-package case: litlab.attention's Backbone built from a class_path inside a recipe."""
    backbone = {
        "class_path": "litlab.attention.Backbone",
        "init_args": {"dim": 8, "num_layers": 2, "num_heads": 2, "head_dim": 4, "pattern": "LS"},
    }
    config = {
        "model": {"class_path": "cli_fixtures.SequenceRegression", "init_args": {"backbone": backbone, "hidden": 8}},
        "data": {"class_path": "cli_fixtures.SequenceData"},
        "trainer": BASE["trainer"],
    }
    from litlab.attention import Backbone

    root = tmp_path / "out"
    main(["fit", "--config", write(tmp_path / "seq.yaml", config), "--trainer.default_root_dir", str(root)])
    state = torch.load(root / "seq" / "version_0" / "checkpoints" / "last.ckpt", weights_only=False)
    assert state["global_step"] == 3
    rebuilt = Backbone(dim=8, num_layers=2, num_heads=2, head_dim=4, pattern="LS")
    own = {k.removeprefix("backbone."): v for k, v in state["state_dict"].items() if k.startswith("backbone.")}
    rebuilt.load_state_dict(own)  # the checkpoint holds exactly an attention Backbone's parameters


def test_data_derived_size_without_its_data_module_is_one_clear_error(tmp_path: Path, cli_env: dict) -> None:
    """The LM takes its vocabulary size from the DataModule's tokenizer: no `data` section, one clear line."""
    config = {"model": {"class_path": "LanguageModel"}, "trainer": dict(BASE["trainer"], max_steps=1)}
    result = run_cli(["fit", "--config", write(tmp_path / "lm.yaml", config)], tmp_path, cli_env)
    assert result.returncode == 1
    assert "litlab: error: ValueError: LanguageModel.vocab_size is None" in result.stderr
    assert "Traceback" not in result.stderr
