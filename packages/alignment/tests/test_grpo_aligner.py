"""GRPOAligner: stored old log-probs under num_iterations > 1, micro-batches that add up to the whole
rollout's gradient, the reference only when beta > 0, and a short fit / test / predict."""

import json

import lightning as L
import pytest
import torch

import litlab.alignment.lit.grpo as grpo_module
from litlab.alignment import GRPOAligner, LitlabCausalLM, PromptDataModule
from litlab.alignment.data.synthetic import ArithmeticTask
from litlab.attention import BackboneConfig

TINY = BackboneConfig(dim=32, num_layers=2, num_heads=2, head_dim=16, pattern="LS")


def policy():
    torch.manual_seed(0)
    return LitlabCausalLM(384, TINY)


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    root = tmp_path_factory.mktemp("reasoning")
    return PromptDataModule(data_dir=str(root), task=ArithmeticTask(n_train=16, n_val=4, n_eval=4), batch_size=2,
                            eval_batch_size=4)  # fmt: skip


def trainer(tmp_path, steps, **kw):
    return L.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path),
                     limit_val_batches=0, **kw)  # fmt: skip


def always_rewarded(prompts, completions, **columns):
    """A reward that spreads within every group (the completion's length parity), so advantages are non-zero."""
    return [float(len(c) % 2) for c in completions]


REWARDS = {"parity": 1.0, "accuracy": 1.0}


@pytest.fixture(autouse=True)
def parity_reward(monkeypatch):
    monkeypatch.setitem(grpo_module.resolve_rewards.__globals__["REWARDS"], "parity", always_rewarded)


def test_num_iterations_reuse_the_stored_sampling_time_logps(tmp_path, prompts, monkeypatch):
    calls = []
    real = grpo_module.grpo_loss

    def spy(logp, old, ref, adv, mask, **kw):
        calls.append((logp.detach().clone(), old, adv.clone()))
        return real(logp, old, ref, adv, mask, **kw)

    monkeypatch.setattr(grpo_module, "grpo_loss", spy)
    model = GRPOAligner(policy(), rewards=REWARDS, num_generations=4, max_completion_length=12, num_iterations=3,
                        lr=1e-2)  # fmt: skip
    trainer(tmp_path, 3).fit(model, prompts)
    assert len(calls) == 3  # one rollout, three optimizer steps on it
    (l0, old0, a0), (l1, old1, a1), (l2, old2, _) = calls
    assert torch.equal(old0, old1) and torch.equal(old1, old2) and torch.equal(a0, a1)  # generated once, stored
    assert torch.allclose(l0, old0, atol=1e-5)  # before the first update the policy is the sampler
    assert not torch.allclose(l1, old1, atol=1e-4) and not torch.allclose(l2, l1, atol=1e-4)  # ratio != 1 later


def test_one_iteration_passes_no_old_logps(tmp_path, prompts, monkeypatch):
    olds = []
    real = grpo_module.grpo_loss
    monkeypatch.setattr(
        grpo_module, "grpo_loss", lambda lp, old, *a, **k: (olds.append(old), real(lp, old, *a, **k))[1]
    )
    model = GRPOAligner(policy(), rewards=REWARDS, num_generations=2, max_completion_length=6)
    trainer(tmp_path, 2).fit(model, prompts)
    assert olds == [None, None]


@pytest.mark.parametrize("loss_type", ["dapo", "grpo", "bnpo", "dr_grpo"])
def test_micro_batches_add_up_to_the_whole_rollout(prompts, loss_type):
    prompts.setup("fit")
    batches = []
    for micro in (None, 3):
        model = GRPOAligner(policy(), num_generations=4, max_completion_length=10, micro_batch_size=micro,
                            loss_type=loss_type, beta=0.0)  # fmt: skip
        model.tokenizer, model.eos_ids, model.pad_id = prompts.tokenizer, sorted(prompts.eos_ids), prompts.pad_id
        batch = next(iter(prompts.train_dataloader()))
        g = torch.Generator().manual_seed(0)
        roll = grpo_module.generate_rollout(model.policy, batch["prompt_ids"], 4, 10, model.sampling, model.eos_ids,
                                            model.pad_id, generator=g)  # fmt: skip
        train = grpo_module.rollout_batch(roll, model.pad_id)
        adv = torch.linspace(-1, 1, train["input_ids"].shape[0])
        model.manual_backward = lambda loss: loss.backward()  # no trainer attached
        model._update(train, None, None, adv, float(train["completion_mask"].sum()))
        batches.append([p.grad.clone() for p in model.policy.parameters()])
    if loss_type == "bnpo":  # a per-micro-batch token mean (TRL): the micro-batches differ on purpose
        return
    for whole, split in zip(*batches):
        torch.testing.assert_close(whole, split, rtol=1e-4, atol=1e-6)


def test_reference_only_when_beta_is_positive():
    assert GRPOAligner(policy(), beta=0.0)._reference == []
    model = GRPOAligner(policy(), beta=0.04)
    assert len(model._reference) == 1 and not any(p.requires_grad for p in model._reference[0].parameters())
    assert not any(k.startswith("_reference") for k in model.state_dict())


def test_fit_logs_the_rollout_and_test_and_predict_work(tmp_path, prompts):
    model = GRPOAligner(policy(), num_generations=2, max_completion_length=8, beta=0.1, lr=1e-3,
                        predict_file=str(tmp_path / "out.jsonl"))  # fmt: skip
    t = trainer(tmp_path, 2)
    t.fit(model, prompts)
    logged = t.callback_metrics
    for key in ("train/reward", "train/rewards/accuracy/mean", "train/rewards/strict_format/mean", "train/accuracy",
                "train/completion_length", "train/truncation_rate", "train/eos_rate", "train/clip_ratio/region_mean",
                "train/kl", "train/gen_tokens_per_s", "train/frac_reward_zero_std"):  # fmt: skip
        assert key in logged, key
    result = t.test(model, prompts, verbose=False)[0]
    assert {"test/accuracy", "test/rewards/strict_format/mean", "test/eos_rate"} <= set(result)
    t.predict(model, prompts)
    rows = [json.loads(line) for line in open(tmp_path / "out.jsonl")]
    assert len(rows) == 4 and {"prompt", "completion", "answer", "reward_accuracy", "terminated"} <= set(rows[0])


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="num_generations >= 2"):
        GRPOAligner(policy(), num_generations=1)
    with pytest.raises(ValueError, match="loss_type"):
        GRPOAligner(policy(), loss_type="ppo")
    with pytest.raises(ValueError, match="unknown reward"):
        GRPOAligner(policy(), rewards={"acc": 1.0})
