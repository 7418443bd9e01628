"""`litlab fit` smoke tests of every recipe: SFT of litlab's LM, then each preference loss from that SFT
checkpoint, and the Hugging Face folder recipe (tiny Llama built from a config in a temp folder)."""

import csv
from pathlib import Path

import pytest
import yaml

from litlab.shared.cli import main

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ROOT / "configs"
TINY_BACKBONE = {"dim": 32, "num_layers": 2, "num_heads": 2, "head_dim": 16, "pattern": "LS"}
pytestmark = pytest.mark.slow


def fit(tmp_path, recipe, overrides: dict, *args):
    over = tmp_path / f"{recipe}-override.yaml"
    over.write_text(yaml.safe_dump(overrides))
    main(["fit", "--config", str(CONFIGS / "trainer/cpu.yaml"), "--config", str(CONFIGS / f"alignment/{recipe}.yaml"),
          "--config", str(over), "--trainer.max_steps=2", "--trainer.val_check_interval=2",
          "--trainer.limit_val_batches=1", "--trainer.log_every_n_steps=1", "--trainer.enable_progress_bar=false",
          "--trainer.default_root_dir", str(tmp_path / "runs"), "--run_name", recipe, *args])  # fmt: skip
    versions = sorted((tmp_path / "runs" / recipe).glob("version_*"))
    return list(csv.DictReader(open(versions[-1] / "metrics.csv")))


def data_overrides(task_dir, **extra):
    return {"class_path": "PreferenceDataModule", "init_args": {
        "data_dir": str(task_dir), "tokenizer": str(task_dir / "tokenizer"), "batch_size": 4,
        "task": {"n_train": 48, "n_val": 8, "n_eval": 6}, **extra}}  # fmt: skip


@pytest.fixture(scope="module")
def sft_checkpoint(tmp_path_factory, task_dir):
    tmp = tmp_path_factory.mktemp("sft")
    overrides = {
        "model": {"class_path": "SFTModule", "init_args": {"eval_prompts": 3, "warmup_steps": 1, "policy": {
            "class_path": "LitlabCausalLM", "init_args": {"vocab_size": 384, "backbone": TINY_BACKBONE}}}},
        "data": data_overrides(task_dir, chosen_only=True),
    }  # fmt: skip
    rows = fit(tmp, "sft", overrides)
    assert any(r.get("gen_ood/eos_rate") for r in rows) and any(r.get("train/loss") for r in rows)
    ckpt = next((tmp / "runs" / "sft").glob("version_*/checkpoints/last.ckpt"))
    return ckpt


@pytest.mark.parametrize("recipe", ["smpo", "smpo-modified", "dpo", "simpo", "orpo"])
def test_preference_recipes_train_from_the_sft_checkpoint(tmp_path, task_dir, sft_checkpoint, recipe):
    overrides = {
        "model": {"class_path": "PreferenceAligner", "init_args": {"eval_prompts": 2, "warmup_steps": 1, "policy": {
            "class_path": "LitlabCausalLM", "init_args": {"vocab_size": 384, "backbone": TINY_BACKBONE,
                                                          "checkpoint": str(sft_checkpoint)}}}},
        "data": data_overrides(task_dir),
    }  # fmt: skip
    rows = fit(tmp_path, recipe, overrides)
    train = [r for r in rows if r.get("train/loss")]
    assert len(train) == 2 and all(float(r["train/loss"]) == float(r["train/loss"]) for r in train)
    assert any(r.get("train/eos_logp_rejected") for r in rows) and any(r.get("val/reward_accuracy") for r in rows)


def test_smpo_margin_schedule_follows_its_formula(tmp_path, task_dir, sft_checkpoint):
    overrides = {
        "model": {"class_path": "PreferenceAligner", "init_args": {"eval_prompts": 0, "policy": {
            "class_path": "LitlabCausalLM", "init_args": {"vocab_size": 384, "backbone": TINY_BACKBONE,
                                                          "checkpoint": str(sft_checkpoint)}},
            "objective": {"class_path": "SMPO", "init_args": {"margin_schedule": True, "margin_start": 0.05}}}},
        "data": data_overrides(task_dir),
    }  # fmt: skip
    rows = fit(tmp_path, "smpo-modified", overrides, "--trainer.max_steps=4")
    margins = [float(r["train/margin_target"]) for r in rows if r.get("train/margin_target")]
    # m_k = m0 + (m - m0) * k / K with m0 0.05, m 0.35, K 4
    assert margins == pytest.approx([0.05 + 0.3 * k / 4 for k in range(4)])


def test_hf_folder_recipe_with_lora_and_dpo(tmp_path, task_dir):
    """The HF recipe (LoRA) with DPO, whose reference is the same model with its adapters disabled."""
    pytest.importorskip("peft")
    from litlab.alignment.models.tiny_hf import make_tiny_llama

    folder = make_tiny_llama(tmp_path / "tiny-llama", tokenizer=task_dir / "tokenizer", hidden=32)
    overrides = {
        "model": {"class_path": "PreferenceAligner", "init_args": {
            "eval_prompts": 2, "policy": {"class_path": "HFCausalLM", "init_args": {"path": str(folder)}},
            "objective": {"class_path": "DPO"}}},
        "data": data_overrides(task_dir, tokenizer=str(folder)),
    }  # fmt: skip
    rows = fit(tmp_path, "smpo-hf", overrides)
    assert len([r for r in rows if r.get("train/loss")]) == 2


def test_bad_config_is_a_clear_error(tmp_path, task_dir, capsys):
    policy = {"class_path": "LitlabCausalLM",
              "init_args": {"vocab_size": 16, "backbone": TINY_BACKBONE, "checkpoint": None}}  # fmt: skip
    overrides = {"model": {"class_path": "PreferenceAligner", "init_args": {"policy": policy}},
                 "data": data_overrides(task_dir)}  # fmt: skip
    with pytest.raises(SystemExit):
        fit(tmp_path, "simpo", overrides)
    assert "the policy's head only 16" in capsys.readouterr().err
