"""`litlab fit` / `test` of the GRPO recipes: litlab's LM from a checkpoint, and a local HF folder with LoRA."""

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml

from litlab.alignment import LitlabCausalLM
from litlab.attention import BackboneConfig
from litlab.shared.cli import main

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ROOT / "configs"
TINY = {"dim": 32, "num_layers": 2, "num_heads": 2, "head_dim": 16, "pattern": "LS"}
pytestmark = pytest.mark.slow


def run(tmp_path, command, recipe, overrides, *args):
    over = tmp_path / f"{recipe}-override.yaml"
    over.write_text(yaml.safe_dump(overrides))
    main([command, "--config", str(CONFIGS / "trainer/cpu.yaml"), "--config", str(CONFIGS / f"alignment/{recipe}.yaml"),
          "--config", str(over), "--trainer.default_root_dir", str(tmp_path / "runs"), "--run_name", recipe,
          "--trainer.enable_progress_bar=false", *args])  # fmt: skip
    versions = sorted((tmp_path / "runs" / recipe).glob("version_*"))
    return versions[-1]


def small_run(task_dir, **data):
    model = {"num_generations": 2, "max_completion_length": 8, "eval_max_completion_length": 8}
    data = {"data_dir": str(task_dir), "task": {"n_train": 8, "n_val": 2, "n_eval": 2}, "batch_size": 2,
            "eval_batch_size": 2, **data}  # fmt: skip
    return model, data


FIT = ["--trainer.max_steps=2", "--trainer.val_check_interval=2", "--trainer.limit_val_batches=1",
       "--trainer.log_every_n_steps=1"]  # fmt: skip


def test_grpo_recipe_trains_litlab_lm_from_a_checkpoint_and_tests(tmp_path):
    torch.manual_seed(0)
    ckpt = tmp_path / "start.pt"
    torch.save(LitlabCausalLM(384, BackboneConfig(**TINY)).model.state_dict(), ckpt)
    model, data = small_run(tmp_path / "task")
    model["policy"] = {"class_path": "LitlabCausalLM",
                       "init_args": {"vocab_size": 384, "backbone": TINY, "checkpoint": str(ckpt)}}  # fmt: skip
    overrides = {"model": {"class_path": "GRPOAligner", "init_args": model},
                 "data": {"class_path": "PromptDataModule", "init_args": data}}  # fmt: skip
    folder = run(tmp_path, "fit", "grpo", overrides, *FIT)
    rows = list(csv.DictReader(open(folder / "metrics.csv")))
    train = [r for r in rows if r.get("train/reward")]
    assert len(train) == 2 and all(r["train/gen_tokens_per_s"] and r["train/clip_ratio/region_mean"] for r in train)
    assert any(r.get("val/accuracy") for r in rows)
    last = folder / "checkpoints" / "last.ckpt"
    tested = run(tmp_path, "test", "grpo", overrides, f"--ckpt_path={last}")
    rows = list(csv.DictReader(open(tested / "metrics.csv")))
    assert any(r.get("test/accuracy") for r in rows) and any(r.get("test/rewards/strict_format/mean") for r in rows)


def test_grpo_hf_recipe_with_lora_and_a_reference(tmp_path, task_dir):
    pytest.importorskip("peft")
    from litlab.alignment.data.prompts import ensure_reasoning_task
    from litlab.alignment.data.synthetic import ArithmeticTask
    from litlab.alignment.models.tiny_hf import make_tiny_llama

    ensure_reasoning_task(ArithmeticTask(n_train=8, n_val=2, n_eval=2), tmp_path / "task")
    llama = make_tiny_llama(tmp_path / "llama", tokenizer=tmp_path / "task" / "tokenizer", hidden=32)
    model, data = small_run(tmp_path / "task", tokenizer=str(llama))
    model["policy"] = {"class_path": "HFCausalLM", "init_args": {"path": str(llama)}}
    overrides = {"model": {"class_path": "GRPOAligner", "init_args": model},
                 "data": {"class_path": "PromptDataModule", "init_args": data}}  # fmt: skip
    folder = run(tmp_path, "fit", "grpo-hf", overrides, *FIT)
    rows = [r for r in csv.DictReader(open(folder / "metrics.csv")) if r.get("train/reward")]
    assert len(rows) == 1 and rows[0]["train/kl"]  # num_iterations 2: two optimizer steps, one rollout
    config = yaml.safe_load(open(folder / "config.yaml"))
    assert config["model"]["init_args"]["policy"]["init_args"]["lora"]["r"] == 8
    assert json.loads((tmp_path / "task" / "task.json").read_text())["format"] == "reasoning"
