"""`litlab test` and `litlab predict` from a fit checkpoint, for every recipe of the README.

Each recipe fits a few steps at tiny sizes, then `test` and `predict` run from its `last.ckpt`; the run
folders must hold a `test_metrics.json` with finite values and a `predictions.jsonl` with one row per prompt
(or episode / example).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from litlab.shared.cli import main

ROOT = Path(__file__).resolve().parents[1]
CPU = str(ROOT / "configs/trainer/cpu.yaml")
QUIET = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--trainer.log_every_n_steps=1"]
pytestmark = pytest.mark.slow


def fit_test_predict(recipe: str, root: Path, fit_args: list[str], eval_args: list[str]) -> tuple[dict, list[dict]]:
    """Fit, then test and predict from the fit's last.ckpt; returns (test metrics, prediction rows)."""
    config = ["--config", CPU, "--config", str(ROOT / "configs" / f"{recipe}.yaml"), "--run_name", "r"]
    common = [*config, *QUIET, "--trainer.default_root_dir", str(root)]
    main(["fit", *common, *fit_args])
    ckpt = root / "r" / "version_0" / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    main(["test", *common, *eval_args, "--ckpt_path", str(ckpt)])
    record = json.loads((root / "r" / "version_1" / "test_metrics.json").read_text())
    assert record["ckpt_path"] == str(ckpt) and record["metrics"]
    assert all(math.isfinite(v) for v in record["metrics"].values()), record
    main(["predict", *common, *eval_args, "--ckpt_path", str(ckpt)])
    rows = [json.loads(line) for line in (root / "r" / "version_2" / "predictions.jsonl").read_text().splitlines()]
    return record["metrics"], rows


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for i in range(10):
        (root / f"f{i}.py").write_text(f"def f{i}(x):\n    return x + {i}\n\n" * 30)
    return root


@pytest.fixture(scope="module")
def prompts(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prompts") / "prompts.jsonl"
    path.write_text(json.dumps({"prompt": "def f(x):\n"}) + "\n" + json.dumps({"prompt": "What is 3 + 4?\n"}) + "\n")
    return path


LM_TINY = [
    "--model.init_args.backbone.dim=32", "--model.init_args.backbone.num_layers=2",
    "--model.init_args.backbone.num_heads=2", "--model.init_args.backbone.head_dim=16",
    "--model.init_args.sample_tokens=4", "--data.init_args.seq_len=32", "--data.init_args.batch_size=2",
    "--data.init_args.bpe_vocab_size=300", "--trainer.limit_val_batches=1", "--trainer.limit_test_batches=2",
]  # fmt: skip


@pytest.mark.parametrize("recipe", ["lm-lightning", "lm-hybrid-moe", "lm-softmax", "lm-ssmax"])
def test_lm_recipes_test_and_predict(recipe, corpus, prompts, tmp_path):
    data = [f"--data.init_args.source={corpus}/*.py", f"--data.init_args.cache_dir={tmp_path}/cache", *LM_TINY]
    metrics, rows = fit_test_predict(
        f"attention/{recipe}", tmp_path, [*data, "--trainer.max_steps=2", "--trainer.val_check_interval=2"],
        [*data, f"--data.init_args.predict_file={prompts}"],
    )  # fmt: skip
    assert set(metrics) == {"test/loss", "test/ppl"}
    assert metrics["test/ppl"] == pytest.approx(math.exp(metrics["test/loss"]), rel=1e-4)
    assert [r["prompt"] for r in rows] == ["def f(x):\n", "What is 3 + 4?\n"]
    assert all(r["new_tokens"] >= 1 and isinstance(r["completion"], str) for r in rows)


# ---- alignment: SFT, then each preference recipe from the SFT checkpoint -------------------------------------
TINY_BACKBONE = {"dim": 32, "num_layers": 2, "num_heads": 2, "head_dim": 16, "pattern": "LS"}
# one step, no sanity check: the validation pass (with its greedy generation) runs once, at the end
ALIGN_TRAINER = ["--trainer.max_steps=1", "--trainer.val_check_interval=1", "--trainer.limit_val_batches=1",
                 "--trainer.num_sanity_val_steps=0"]  # fmt: skip


def align_overrides(path: Path, module: str, task_dir: Path, prompts: Path, **policy) -> list[str]:
    policy = {"class_path": "LitlabCausalLM", "init_args": {"vocab_size": 384, "backbone": TINY_BACKBONE, **policy}}
    data = {"data_dir": str(task_dir), "tokenizer": str(task_dir / "tokenizer"), "batch_size": 4, "max_new_tokens": 6,
            "task": {"n_train": 24, "n_val": 4, "n_eval": 3, "n_test": 5}, "predict_file": str(prompts)}  # fmt: skip
    if module == "SFTModule":
        data["chosen_only"] = True
    over = {"model": {"class_path": module, "init_args": {"eval_prompts": 2, "warmup_steps": 1, "policy": policy}},
            "data": {"class_path": "PreferenceDataModule", "init_args": data}}  # fmt: skip
    path.write_text(yaml.safe_dump(over))
    return ["--config", str(path)]


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory) -> Path:
    from alignment_fixtures import write_arithmetic_task

    return write_arithmetic_task(tmp_path_factory.mktemp("arith"), n_train=24, n_val=4, n_eval=3, n_test=5)


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory, task_dir, prompts) -> tuple[Path, dict, list[dict]]:
    root = tmp_path_factory.mktemp("sft")
    args = align_overrides(root / "over.yaml", "SFTModule", task_dir, prompts)
    metrics, rows = fit_test_predict("alignment/sft", root, [*args, *ALIGN_TRAINER], args)
    return root / "r" / "version_0" / "checkpoints" / "last.ckpt", metrics, rows


def check_alignment_results(metrics: dict, rows: list[dict]) -> None:
    for split in ("id", "ood"):
        assert 0 <= metrics[f"test/gen_{split}/accuracy"] <= 1 and 0 <= metrics[f"test/gen_{split}/eos_rate"] <= 1
    assert [r["prompt"] for r in rows] == ["def f(x):\n", "What is 3 + 4?\n"]
    assert all(0 <= r["new_tokens"] <= 6 and isinstance(r["terminated"], bool) for r in rows)


def test_sft_recipe_test_and_predict(sft_run):
    _, metrics, rows = sft_run
    assert metrics["test/loss"] > 0
    check_alignment_results(metrics, rows)


@pytest.mark.parametrize("recipe", ["smpo", "smpo-modified", "dpo", "simpo", "orpo"])
def test_preference_recipes_test_and_predict(recipe, tmp_path, task_dir, prompts, sft_run):
    args = align_overrides(tmp_path / "over.yaml", "PreferenceAligner", task_dir, prompts, checkpoint=str(sft_run[0]))
    metrics, rows = fit_test_predict(f"alignment/{recipe}", tmp_path, [*args, *ALIGN_TRAINER], args)
    assert 0 <= metrics["test/reward_accuracy"] <= 1 and "test/loss" in metrics
    check_alignment_results(metrics, rows)


# ---- offline RL: every recipe on a small generated Hopper dataset ---------------------------------------------
@pytest.fixture(scope="module")
def hopper(tmp_path_factory) -> Path:
    import gymnasium as gym
    import numpy as np

    from litlab.rl.offline.collect import collect_transitions, random_policy
    from litlab.rl.offline.storage import OfflineMetadata, save_offline_dataset

    space = gym.make("Hopper-v5").action_space
    arrays, returns = collect_transitions("Hopper-v5", random_policy(space, 0), 200, num_envs=2, seed=0)
    meta = OfflineMetadata("Hopper-v5", "random", float(np.mean(returns)), float(np.mean(returns)) + 100.0)
    return save_offline_dataset(tmp_path_factory.mktemp("rl") / "hopper-random-v5", arrays, meta)


@pytest.mark.parametrize("recipe", ["fql-hopper", "fql-halfcheetah", "fql-walker2d", "bc-hopper", "iql-hopper",
                                    "rebrac-hopper"])  # fmt: skip
def test_rl_recipes_test_and_predict(recipe, hopper, tmp_path):
    data = [f"--data.init_args.path={hopper}", "--data.init_args.batch_size=16", "--data.init_args.test_episodes=3",
            "--data.init_args.max_episode_steps=40", "--model.init_args.hidden_dims=[16,16]",
            "--trainer.callbacks=[]"]  # fmt: skip
    metrics, rows = fit_test_predict(f"rl/{recipe}", tmp_path, [*data, "--trainer.max_steps=2"], data)
    assert metrics["test/episodes"] == 3 and metrics["test/normalized_return_std"] >= 0
    assert [r["seed"] for r in rows] == [100_000, 100_001, 100_002]
    meta = json.loads((hopper / "litlab_offline.json").read_text())
    for r in rows:  # the normalized return follows from the stored reference returns
        expected = 100 * (r["return"] - meta["random_return"]) / (meta["expert_return"] - meta["random_return"])
        assert r["normalized_return"] == pytest.approx(expected)
    mean = sum(r["normalized_return"] for r in rows) / 3
    assert metrics["test/normalized_return"] == pytest.approx(mean, rel=1e-5)  # same seeds: same episodes


# ---- robotics: the spline toy (FAST and binning arms) -------------------------------------------------------
@pytest.mark.parametrize("recipe", ["spline-toy-fast", "spline-toy-binning"])
def test_spline_toy_recipes_test_and_predict(recipe, tmp_path):
    model = ["--model.init_args.n_train=120", "--model.init_args.n_val=3", "--model.init_args.n_test=5",
             "--model.init_args.horizon=20", "--model.init_args.dim=32", "--model.init_args.batch_size=4"]  # fmt: skip
    fit = [*model, "--trainer.max_steps=2", "--trainer.val_check_interval=2", "--trainer.num_sanity_val_steps=0"]
    metrics, rows = fit_test_predict(f"robotics/{recipe}", tmp_path, fit, model)
    assert {"test/mse", "test/decode_failures", "test/copy_frac_pred"} <= set(metrics)
    assert [r["index"] for r in rows] == [0, 1, 2, 3, 4] and all(len(r["prediction"]) == 20 for r in rows)
    for r in rows:  # each row's MSE follows from its own prediction and target
        assert r["mse"] == pytest.approx(sum((p - t) ** 2 for p, t in zip(r["prediction"], r["target"])) / 20)
    assert metrics["test/mse"] == pytest.approx(sum(r["mse"] for r in rows) / 5, rel=1e-4)  # same greedy decode


def test_smpo_hf_recipe_test_and_predict(tmp_path, task_dir, prompts):
    pytest.importorskip("peft")
    from litlab.alignment.models.tiny_hf import make_tiny_llama

    folder = make_tiny_llama(tmp_path / "tiny-llama", tokenizer=task_dir / "tokenizer", hidden=32)
    args = align_overrides(tmp_path / "over.yaml", "PreferenceAligner", task_dir, prompts)
    over = yaml.safe_load((tmp_path / "over.yaml").read_text())  # the recipe's HF policy (LoRA) on the tiny Llama
    over["model"]["init_args"]["policy"] = {"class_path": "HFCausalLM", "init_args": {"path": str(folder)}}
    over["data"]["init_args"]["tokenizer"] = str(folder)
    (tmp_path / "over.yaml").write_text(yaml.safe_dump(over))
    metrics, rows = fit_test_predict("alignment/smpo-hf", tmp_path, [*args, *ALIGN_TRAINER], args)
    assert 0 <= metrics["test/reward_accuracy"] <= 1 and "test/loss" in metrics
    check_alignment_results(metrics, rows)


def test_grpo_recipe_test_and_predict(tmp_path):
    import torch

    from litlab.alignment import LitlabCausalLM
    from litlab.attention import BackboneConfig

    torch.manual_seed(0)
    start = tmp_path / "start.pt"  # the recipe starts from an SFT policy: a fresh tiny one stands in
    torch.save(LitlabCausalLM(384, BackboneConfig(**TINY_BACKBONE)).model.state_dict(), start)
    policy = {"class_path": "LitlabCausalLM",
              "init_args": {"vocab_size": 384, "backbone": TINY_BACKBONE, "checkpoint": str(start)}}  # fmt: skip
    model = {"num_generations": 2, "max_completion_length": 8, "eval_max_completion_length": 8, "policy": policy}
    data = {"data_dir": str(tmp_path / "task"), "task": {"n_train": 8, "n_val": 2, "n_eval": 2},  # test: n_eval
            "batch_size": 2, "eval_batch_size": 2}  # fmt: skip
    over = {"model": {"class_path": "GRPOAligner", "init_args": model},
            "data": {"class_path": "PromptDataModule", "init_args": data}}  # fmt: skip
    (tmp_path / "over.yaml").write_text(yaml.safe_dump(over))
    args = ["--config", str(tmp_path / "over.yaml")]
    metrics, rows = fit_test_predict("alignment/grpo", tmp_path, [*args, *ALIGN_TRAINER], args)
    assert 0 <= metrics["test/accuracy"] <= 1
    assert len(rows) == 2 and all(isinstance(r["completion"], str) and 0 <= r["length"] <= 8 for r in rows)


# ---- in-context RL: each recipe with a backbone overlay, on tiny Dark Room histories --------------------------
@pytest.fixture(scope="module")
def icrl_histories(tmp_path_factory) -> Path:
    import numpy as np

    from litlab.rl.envs import get_spec
    from litlab.rl.histories import generate

    root = tmp_path_factory.mktemp("icrl") / "tiny"
    spec = get_spec("darkroom_tiny")
    tasks = [int(t) for t in np.concatenate([spec.split()["train"][:4], spec.split()["test"][:1]])]
    generate(root, spec, tasks, 30, 0.3, tasks_per_job=5)
    return root


@pytest.mark.parametrize(("recipe", "overlay"), [("icrl-darkroom", "icrl-lightning"), ("icrl-keydoor", "icrl-softmax")])
def test_icrl_recipes_test_and_predict(recipe, overlay, icrl_histories, tmp_path):
    backbone = "--model.init_args.backbone.init_args"
    args = ["--config", str(ROOT / f"configs/rl/{overlay}.yaml"), f"--data.init_args.paths=[{icrl_histories}]",
            "--data.init_args.context=20", "--data.init_args.batch_size=4", "--data.init_args.max_test_tasks=2",
            f"{backbone}.dim=34", f"{backbone}.num_layers=1"]  # fmt: skip
    fit = [*args, "--trainer.max_steps=2", "--trainer.val_check_interval=2", "--trainer.limit_val_batches=1"]
    metrics, rows = fit_test_predict(f"rl/{recipe}", tmp_path, fit, args)
    assert "test/return_last" in metrics and "test/return_shot1" in metrics
    assert rows and all(len(r["returns"]) == len(r["normalized"]) >= 1 for r in rows)
    last = [r["returns"][-1] for r in rows]  # held-out tasks' last-shot returns, the test table's return_last
    assert metrics["test/return_last"] == pytest.approx(sum(last) / len(last), rel=1e-4, abs=1e-6)
