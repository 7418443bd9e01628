"""Each VLA recipe trains a few steps and runs one closed-loop evaluation through ``litlab fit``; ``litlab
test`` / ``predict`` run closed-loop episodes from the checkpoint; damaged checkpoints and datasets whose
statistics differ from the checkpoint's processor are refused with one clear error."""

import csv
import json
from pathlib import Path

import pytest
import torch

from litlab.shared.cli import main

torch.set_num_threads(1)  # tiny models: two threads on a shared 2-core machine are 100x slower per matmul

ROOT = Path(__file__).resolve().parents[3]
TINY = ["--model.init_args.dim=32", "--model.init_args.num_layers=1", "--model.init_args.num_heads=2",
        "--model.init_args.n_action_steps=5", "--model.init_args.warmup_steps=1", "--data.init_args.batch_size=8",
        "--data.init_args.test_episodes=2", "--data.init_args.eval_batch=2", "--data.init_args.fast_vocab=300",
        "--trainer.log_every_n_steps=1"]


def _args(cmd, recipe, root, out, *extra):
    override = out / "tiny.yaml"
    override.write_text("trainer:\n  max_steps: 3\n  val_check_interval: 3\n  limit_val_batches: 1\n"
                        "  callbacks:\n    - class_path: litlab.robotics.vla.ClosedLoopEval\n"
                        "      init_args: {episodes: 2, strip_frames: 4}\n")
    return [cmd, "--config", str(ROOT / "configs/trainer/cpu.yaml"), "--config",
            str(ROOT / f"configs/robotics/vla-{recipe}.yaml"), "--config", str(override),
            f"--data.init_args.root={root}", f"--trainer.default_root_dir={out}", "--run_name=vla", *TINY, *extra]


@pytest.fixture(scope="module")
def fitted(vla_dataset, tmp_path_factory):
    """recipe -> run folder, after `litlab fit` of each recipe for 3 steps."""
    runs = {}
    for recipe in ("fast", "binning", "flow"):
        out = tmp_path_factory.mktemp(f"vla_{recipe}")
        assert main(_args("fit", recipe, vla_dataset(), out)) == 0
        runs[recipe] = out / "vla" / "version_0"
    return runs


@pytest.mark.parametrize("recipe", ["fast", "binning", "flow"])
def test_recipe_fits_and_evaluates_in_closed_loop(fitted, recipe):
    run = fitted[recipe]
    assert (run / "checkpoints" / "last.ckpt").is_file()
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    val = [r for r in rows if r.get("val/success_rate")]
    assert val and 0.0 <= float(val[-1]["val/success_rate"]) <= 1.0
    assert float(val[-1]["val/success_ci_low"]) <= float(val[-1]["val/success_ci_high"])
    key = "train/flow_mse" if recipe == "flow" else "train/ce"
    assert any(r.get(key) for r in rows)
    if recipe != "flow":
        assert any(r.get("val/decode_failure_rate") for r in rows)
    assert list((run / "rollouts").glob("step*.png"))


def test_test_and_predict_from_the_checkpoint(fitted, vla_dataset, tmp_path):
    ckpt = fitted["fast"] / "checkpoints" / "last.ckpt"
    assert main(_args("test", "fast", vla_dataset(), tmp_path, f"--ckpt_path={ckpt}")) == 0
    assert main(_args("predict", "fast", vla_dataset(), tmp_path, f"--ckpt_path={ckpt}")) == 0
    lines = [json.loads(x) for x in next(tmp_path.glob("vla/version_*/episodes.jsonl")).read_text().splitlines()]
    assert [r["seed"] for r in lines] == [2_000_000, 2_000_001]
    assert all(set(r) == {"seed", "success", "return", "steps", "final_distance"} for r in lines)


def test_mismatched_statistics_and_corrupted_checkpoints_are_refused(fitted, vla_dataset, tmp_path, capsys):
    ckpt = fitted["binning"] / "checkpoints" / "last.ckpt"
    with pytest.raises(SystemExit) as e:  # a dataset generated from other seeds: other q01/q99
        main(_args("test", "binning", vla_dataset(seed=1), tmp_path, f"--ckpt_path={ckpt}"))
    assert e.value.code == 1 and "do not match the processor" in capsys.readouterr().err
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(ckpt.read_bytes()[:5000])
    with pytest.raises(SystemExit) as e:
        main(_args("test", "binning", vla_dataset(), tmp_path, f"--ckpt_path={broken}"))
    assert e.value.code == 1 and "cannot be read (truncated" in capsys.readouterr().err
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}, "pytorch-lightning_version": "2.6.0", "epoch": 0, "global_step": 0}, foreign)
    with pytest.raises(SystemExit) as e:
        main(_args("test", "binning", vla_dataset(), tmp_path, f"--ckpt_path={foreign}"))
    assert e.value.code == 1 and "not written by VLAModule" in capsys.readouterr().err
