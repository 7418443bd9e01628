"""A VLA recipe on a fresh clone: with no dataset at ``root`` the data module generates it (data.generate)."""

from pathlib import Path

import pytest
import torch

from litlab.shared.cli import main

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[3]
TINY = ["--model.init_args.dim=32", "--model.init_args.num_layers=1", "--model.init_args.num_heads=2",
        "--model.init_args.n_action_steps=5", "--model.init_args.warmup_steps=1", "--data.init_args.batch_size=8",
        "--data.init_args.test_episodes=2", "--data.init_args.eval_batch=2", "--data.init_args.fast_vocab=300",
        "--trainer.max_steps=2", "--trainer.val_check_interval=2", "--trainer.limit_val_batches=1",
        "--trainer.callbacks=[]", "--run_name=gen"]  # fmt: skip


def test_missing_dataset_is_generated_on_first_use(tmp_path):
    root = tmp_path / "pm10"
    gen = "--data.init_args.generate={episodes: 8, val_episodes: 2, control_hz: 10, image_size: 32}"
    args = ["fit", "--config", str(ROOT / "configs/trainer/cpu.yaml"), "--config",
            str(ROOT / "configs/robotics/vla-fast.yaml"), f"--data.init_args.root={root}", gen,
            f"--trainer.default_root_dir={tmp_path / 'runs'}", *TINY]  # fmt: skip
    assert main(args) == 0
    assert (root / "meta" / "info.json").is_file()
    assert (tmp_path / "runs" / "gen" / "version_0" / "checkpoints" / "last.ckpt").is_file()
    stamp = (root / "meta" / "info.json").stat().st_mtime_ns
    assert main(args) == 0  # a second run reuses the dataset
    assert (root / "meta" / "info.json").stat().st_mtime_ns == stamp


def test_without_generate_a_missing_dataset_is_one_clear_error(tmp_path):
    from litlab.robotics.vla.data import VLADataModule

    with pytest.raises(FileNotFoundError, match="generate"):
        VLADataModule(root=str(tmp_path / "none"))
