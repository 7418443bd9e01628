"""`GRPOAligner`: online GRPO with verifiable rewards (DeepSeekMath, arXiv 2402.03300) on any policy adapter.

Per generation step (manual optimization):
    rollout  = G sampled completions per prompt, stopped per row at EOS          (litlab.alignment.generation)
    r        = sum_k w_k R_k(prompt, completion, **columns)                      (litlab.alignment.rewards)
    A        = grpo_advantages(r [P, G], scale_rewards)
    l_old    = policy log-probs at sampling time (stored, only when num_iterations > 1)
    l_ref    = frozen reference log-probs (only when beta > 0)
    then num_iterations optimizer steps on the same rollout, each over micro-batches of rows:
    l        = chunked_token_logps(policy.hidden_states(...), head at the sampling temperature)   [rows, T]
    loss     = grpo_loss(l, l_old, l_ref, A, mask, ...)
The chunked head never holds [rows, T, V] logits. Micro-batch losses are scaled so that their gradients sum
to the loss of the whole rollout: dapo divides by the rollout's active tokens (all-reduced over ranks),
grpo / dr_grpo weight by the micro-batch's share of rows, bnpo by 1 / (number of micro-batches) (TRL).
The reference is the starting policy: LoRA adapters disabled, or else a frozen copy kept out of the
optimizer and the checkpoints.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path

import lightning as L
import torch
from torch import Tensor

from litlab.alignment.generation import SamplingSettings, generate_rollout, rollout_batch
from litlab.alignment.logprobs import chunked_token_logps
from litlab.alignment.losses import GRPO_LOSS_TYPES, grpo_advantages, grpo_loss
from litlab.alignment.models import PolicyAdapter
from litlab.alignment.rewards import compute_rewards, resolve_rewards
from litlab.shared.optim import adamw_warmup_cosine, param_groups, total_training_steps

from .grpo_metrics import rollout_metrics

DEFAULT_REWARDS = {"accuracy": 1.0, "strict_format": 0.25, "soft_format": 0.25}


class GRPOAligner(L.LightningModule):
    """Args:
    policy: the causal LM (LitlabCausalLM, HFCausalLM with or without LoRA).
    rewards: {reward name or dotted path: weight}; built-ins: accuracy, strict_format, soft_format,
        int_answer, tag_count.
    num_generations: completions G per prompt.
    max_completion_length: new tokens per completion (a completion without EOS by then is truncated).
    temperature, top_k, top_p: sampling; the training log-probs use the same temperature.
    num_iterations: optimizer steps per rollout (> 1 uses the stored sampling-time log-probs).
    micro_batch_size: completion rows per forward/backward (None: all rows at once).
    beta: k3-KL coefficient (> 0 builds the frozen reference). epsilon, epsilon_high, delta: clipping.
    loss_type: grpo | bnpo | dr_grpo | dapo. scale_rewards: group | batch | none.
    mask_truncated_completions: truncated completions add no gradient.
    lr, weight_decay, warmup_steps, min_lr_ratio: AdamW with warmup + cosine (litlab.shared.optim).
    max_grad_norm: gradient clipping (0: off).
    token_chunk, vocab_chunk: tiles of the chunked log-probs.
    eval_temperature: sampling temperature of validation / test / predict (0: greedy).
    eval_max_completion_length: their new-token budget (None: max_completion_length).
    generation_batch_size: rows decoded at once (None: all rows of a prompt length).
    predict_file: JSONL written by `litlab predict` (None: completions.jsonl in the log folder).
    """

    def __init__(
        self,
        policy: PolicyAdapter,
        rewards: dict[str, float] | None = None,
        num_generations: int = 8,
        max_completion_length: int = 512,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        num_iterations: int = 1,
        micro_batch_size: int | None = None,
        beta: float = 0.0,
        epsilon: float = 0.2,
        epsilon_high: float | None = None,
        delta: float | None = None,
        loss_type: str = "dapo",
        scale_rewards: str = "group",
        mask_truncated_completions: bool = False,
        lr: float = 1e-6,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        min_lr_ratio: float = 1.0,
        max_grad_norm: float = 1.0,
        token_chunk: int = 4096,
        vocab_chunk: int = 32768,
        eval_temperature: float = 0.0,
        eval_max_completion_length: int | None = None,
        generation_batch_size: int | None = None,
        predict_file: str | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(policy, PolicyAdapter):
            raise TypeError(f"policy must be a PolicyAdapter (LitlabCausalLM, HFCausalLM), got {type(policy).__name__}")
        if num_generations < 2 or num_iterations < 1 or max_completion_length < 1:
            raise ValueError(f"need num_generations >= 2, num_iterations >= 1, max_completion_length >= 1; got "
                             f"{num_generations}, {num_iterations}, {max_completion_length}")  # fmt: skip
        if loss_type not in GRPO_LOSS_TYPES:
            raise ValueError(f"loss_type must be one of {GRPO_LOSS_TYPES}, got {loss_type!r}")
        if micro_batch_size is not None and micro_batch_size < 1:
            raise ValueError(f"micro_batch_size must be >= 1 or None, got {micro_batch_size}")
        self.automatic_optimization = False
        self.policy = policy
        self.reward_fns = resolve_rewards(dict(rewards) if rewards is not None else dict(DEFAULT_REWARDS))
        self.sampling = SamplingSettings(temperature, top_k, top_p)
        self.eval_sampling = SamplingSettings(eval_temperature, top_k, top_p)
        self.save_hyperparameters(ignore=["policy"])
        self._reference: list[PolicyAdapter] = []  # a list keeps it out of state_dict and parameters()
        if beta > 0 and not policy.has_adapters:
            self._reference.append(copy.deepcopy(policy).eval().requires_grad_(False))

    # -- set-up ----------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        dm = self.trainer.datamodule if self._trainer is not None else None
        if dm is None or getattr(dm, "tokenizer", None) is None:
            raise ValueError("GRPOAligner needs a data module with a tokenizer, eos_ids and pad_id (PromptDataModule)")
        self.tokenizer, self.eos_ids, self.pad_id = dm.tokenizer, sorted(dm.eos_ids), dm.pad_id
        if len(self.tokenizer) > self.policy.vocab_size:
            raise ValueError(f"the tokenizer has {len(self.tokenizer)} tokens but the policy's head only "
                             f"{self.policy.vocab_size}")  # fmt: skip

    def on_fit_start(self) -> None:
        for ref in self._reference:
            ref.to(self.device).eval()

    def configure_optimizers(self):
        hp = self.hparams
        groups = param_groups(self.policy, hp.weight_decay)
        return adamw_warmup_cosine(groups, lr=hp.lr, total_steps=total_training_steps(self.trainer),
                                   warmup_steps=hp.warmup_steps, min_lr_ratio=hp.min_lr_ratio)  # fmt: skip

    # -- log-probs -------------------------------------------------------------------------------------
    def token_logps(self, policy: PolicyAdapter, batch: dict[str, Tensor]) -> Tensor:
        """Log-probs [rows, T] of the sampled tokens at the sampling temperature (0 off the mask)."""
        hidden = policy.hidden_states(batch["input_ids"], batch["attention_mask"])
        weight, bias, transform = policy.output_head()
        if self.sampling.temperature > 0:
            transform = dataclasses.replace(transform, temperature=self.sampling.temperature)
        hp = self.hparams
        return chunked_token_logps(hidden.to(weight.dtype), weight, batch["targets"], bias, transform,
                                   token_chunk=hp.token_chunk, vocab_chunk=hp.vocab_chunk)  # fmt: skip

    @torch.no_grad()
    def _frozen_logps(self, batch: dict[str, Tensor], reference: bool) -> Tensor:
        rows = self._micro_slices(batch["input_ids"].shape[0])
        if not reference:
            return torch.cat([self.token_logps(self.policy, _rows(batch, s)) for s in rows])
        if self._reference:
            return torch.cat([self.token_logps(self._reference[0], _rows(batch, s)) for s in rows])
        with self.policy.adapters_disabled():
            return torch.cat([self.token_logps(self.policy, _rows(batch, s)) for s in rows])

    def _micro_slices(self, n: int) -> list[slice]:
        size = self.hparams.micro_batch_size or n
        return [slice(i, min(n, i + size)) for i in range(0, n, size)]

    # -- rollouts --------------------------------------------------------------------------------------
    def rollout(self, batch: dict, sampling: SamplingSettings, generations: int, max_new: int, seed: int):
        """(rollout, completion texts, prompts per row, columns per row, reward table [N, K], reward [N])."""
        generator = torch.Generator(device=self.device).manual_seed(seed) if sampling.temperature > 0 else None
        roll = generate_rollout(self.policy, batch["prompt_ids"], generations, max_new, sampling, self.eos_ids,
                                self.pad_id, mask_truncated=self.hparams.mask_truncated_completions,
                                generator=generator, batch_size=self.hparams.generation_batch_size)  # fmt: skip
        texts = [self.tokenizer.decode(ids[: n - int(t)].tolist(), skip_special_tokens=False)
                 for ids, n, t in zip(roll.completion_ids, roll.lengths, roll.terminated)]  # fmt: skip
        prompts = [p for p in batch["prompt"] for _ in range(generations)]
        columns = {k: [v for v in vals for _ in range(generations)] for k, vals in batch["columns"].items()}
        table, total = compute_rewards(self.reward_fns, prompts, texts, columns)
        return roll, texts, prompts, columns, table.to(self.device), total.to(self.device)

    def _num_items(self, mask: Tensor) -> float:
        count = mask.sum().float()
        if self.trainer.world_size > 1:
            count = self.trainer.strategy.reduce(count, reduce_op="sum") / self.trainer.world_size
        return float(count)

    # -- training --------------------------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int) -> None:
        hp, start = self.hparams, time.perf_counter()
        seed = int(torch.randint(0, 2**62, (1,)).item())  # follows seed_everything
        roll, _, _, _, table, total = self.rollout(batch, self.sampling, hp.num_generations,
                                                   hp.max_completion_length, seed)  # fmt: skip
        adv = grpo_advantages(total.view(-1, hp.num_generations), hp.scale_rewards).flatten()
        train = rollout_batch(roll, self.pad_id)
        old = self._frozen_logps(train, reference=False) if hp.num_iterations > 1 else None
        ref = self._frozen_logps(train, reference=True) if hp.beta > 0 else None
        num_items = self._num_items(train["completion_mask"])
        opt, sched = self.optimizers(), self.lr_schedulers()
        for _ in range(hp.num_iterations):
            info = self._update(train, old, ref, adv, num_items)
            if hp.max_grad_norm > 0:
                self.clip_gradients(opt, gradient_clip_val=hp.max_grad_norm, gradient_clip_algorithm="norm")
            opt.step()
            opt.zero_grad(set_to_none=True)
            sched.step()
        metrics = rollout_metrics(roll, table, total, list(self.reward_fns), hp.num_generations)
        metrics.update({k: v for k, v in info.items() if k != "loss"}, loss=info["loss"])
        metrics.update(gen_tokens_per_s=roll.tokens_per_second, gen_seconds=roll.seconds,
                       step_seconds=time.perf_counter() - start, lr=sched.get_last_lr()[0])  # fmt: skip
        self.log_dict({f"train/{k}": float(v) for k, v in metrics.items()}, batch_size=len(batch["prompt"]))
        self.log("train/reward_mean", float(metrics["reward"]), prog_bar=True, batch_size=len(batch["prompt"]))

    def _update(self, train: dict, old: Tensor | None, ref: Tensor | None, adv: Tensor, num_items: float) -> dict:
        """One pass over the micro-batches (gradients accumulate); returns info averaged over them."""
        hp, n = self.hparams, train["input_ids"].shape[0]
        slices, sums = self._micro_slices(n), {}
        for s in slices:
            micro = _rows(train, s)
            logp = self.token_logps(self.policy, micro)
            loss, info = grpo_loss(
                logp, None if old is None else old[s], None if ref is None else ref[s], adv[s],
                micro["completion_mask"], beta=hp.beta, epsilon=hp.epsilon, epsilon_high=hp.epsilon_high,
                delta=hp.delta, loss_type=hp.loss_type, max_completion_length=hp.max_completion_length,
                num_items=num_items,
            )  # fmt: skip
            rows = s.stop - s.start
            scale = {"dapo": 1.0, "bnpo": 1.0 / len(slices)}.get(hp.loss_type, rows / n)
            self.manual_backward(loss * scale)
            for k, v in info.items():
                sums[k] = sums.get(k, 0.0) + float(v) * (scale if k == "loss" else rows / n)
        return sums

    # -- evaluation ------------------------------------------------------------------------------------
    def _evaluate(self, batch: dict, stage: str) -> None:
        hp = self.hparams
        max_new = hp.eval_max_completion_length or hp.max_completion_length
        roll, *_, table, total = self.rollout(batch, self.eval_sampling, 1, max_new, seed=0)
        metrics = rollout_metrics(roll, table, total, list(self.reward_fns), 1)
        metrics.pop("frac_reward_zero_std", None)
        self.log_dict({f"{stage}/{k}": float(v) for k, v in metrics.items()}, batch_size=len(batch["prompt"]))

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_predict_start(self) -> None:
        log_dir = self.trainer.log_dir or "."
        self._predict_path = Path(self.hparams.predict_file or Path(log_dir) / "completions.jsonl")
        self._predict_path.parent.mkdir(parents=True, exist_ok=True)
        self._predict_path.write_text("")

    def predict_step(self, batch: dict, batch_idx: int) -> list[dict]:
        hp = self.hparams
        max_new = hp.eval_max_completion_length or hp.max_completion_length
        roll, texts, prompts, columns, table, total = self.rollout(batch, self.eval_sampling, 1, max_new, seed=0)
        names = list(self.reward_fns)
        out = [{"prompt": prompts[i], "completion": texts[i], **{k: v[i] for k, v in columns.items()},
                "terminated": bool(roll.terminated[i]), "length": int(roll.lengths[i]),
                "reward": _finite(total[i]), **{f"reward_{k}": _finite(table[i, j]) for j, k in enumerate(names)}}
               for i in range(len(texts))]  # fmt: skip
        with open(self._predict_path, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in out)
        return out


def _rows(batch: dict[str, Tensor], s: slice) -> dict[str, Tensor]:
    return {k: v[s] for k, v in batch.items()}


def _finite(x: Tensor) -> float | None:
    value = float(x)
    return None if value != value else value
