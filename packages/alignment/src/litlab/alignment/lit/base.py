"""Shared parts of the SFT and preference modules: the policy, label log-probs, optimizer, generation eval.

`litlab test` runs the subclass's loss on the held-out test pairs (`test/loss`, `test/reward_accuracy`, ...)
and the generation metrics on the ID and OOD test prompts (`test/gen_id/accuracy`, ...); `litlab predict`
writes one greedy completion per prompt of the data's `predict_file`.
"""

from __future__ import annotations

import math

import lightning as L
import torch
from torch import Tensor

from litlab.alignment.lit.checkpointing import PolicyCheckpointMixin, hparams_ignore
from litlab.alignment.lit.generation import cut_at_eos, evaluate_prompts
from litlab.alignment.logprobs import chunked_token_logps
from litlab.alignment.models import PolicyAdapter


class PolicyModule(PolicyCheckpointMixin, L.LightningModule):
    """Base class (not registered): subclasses define training_step / validation_step."""

    def __init__(
        self,
        policy: PolicyAdapter,
        lr: float,
        weight_decay: float,
        warmup_steps: int,
        min_lr_ratio: float,
        token_chunk: int,
        vocab_chunk: int,
        eval_prompts: int,
        eval_samples: int,
        eval_temperature: float,
    ) -> None:
        super().__init__()
        if not isinstance(policy, PolicyAdapter):
            raise TypeError(f"policy must be a PolicyAdapter (LitlabCausalLM, HFCausalLM), got {type(policy).__name__}")
        if lr <= 0 or warmup_steps < 0 or not 0 <= min_lr_ratio <= 1:
            raise ValueError(f"need lr > 0, warmup_steps >= 0, 0 <= min_lr_ratio <= 1; got {lr}, {warmup_steps}, "
                             f"{min_lr_ratio}")  # fmt: skip
        self.policy = policy
        self.save_hyperparameters(ignore=hparams_ignore())  # keeps CLI policy configs (see checkpointing.py)

    # -- log-probs -----------------------------------------------------------------------------------
    def token_logps(self, policy: PolicyAdapter, batch: dict[str, Tensor]) -> Tensor:
        """Label log-probs [R, T] (fp32, 0 off-label) through the chunked head."""
        hidden = policy.hidden_states(batch["input_ids"], batch["attention_mask"])
        weight, bias, transform = policy.output_head()
        return chunked_token_logps(
            hidden.to(weight.dtype), weight, batch["targets"], bias, transform,
            token_chunk=self.hparams.token_chunk, vocab_chunk=self.hparams.vocab_chunk,
        )  # fmt: skip

    # -- set-up checks -------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        tok = getattr(dm, "tokenizer", None)
        if tok is not None and len(tok) > self.policy.vocab_size:
            raise ValueError(f"the tokenizer has {len(tok)} tokens but the policy's head only {self.policy.vocab_size}")

    # -- optimisation --------------------------------------------------------------------------------
    def configure_optimizers(self):
        params = [p for p in self.policy.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.hparams.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.hparams.lr, betas=(0.9, 0.95),
        )  # fmt: skip
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warm, floor = self.hparams.warmup_steps, self.hparams.min_lr_ratio

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            progress = min(1.0, (step - warm) / max(1, total - warm))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_before_optimizer_step(self, optimizer) -> None:
        grads = [p.grad.detach().norm() for p in self.policy.parameters() if p.grad is not None]
        if grads:
            self.log("train/grad_norm", torch.linalg.vector_norm(torch.stack(grads)))

    # -- test and predict ----------------------------------------------------------------------------
    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def on_test_epoch_end(self) -> None:
        """Greedy generation metrics (EOS rate, repetition, accuracy, length) on every test prompt."""
        dm = getattr(self.trainer, "datamodule", None)
        for split, rows in (getattr(dm, "test_prompts", None) or {}).items():
            if rows:
                greedy = evaluate_prompts(self.policy, dm.tokenizer, dm.eos_ids, rows)
                self.log_dict({f"test/gen_{split}/{k}": v for k, v in greedy.items()}, rank_zero_only=True)

    @torch.no_grad()
    def predict_step(self, prompt: str, batch_idx: int) -> list[dict]:
        """One greedy completion (up to the data's `max_new_tokens`, cut at the first EOS) of a prompt."""
        dm = getattr(self.trainer, "datamodule", None)
        if getattr(dm, "tokenizer", None) is None:
            raise ValueError(f"{type(self).__name__}.predict needs a datamodule with a tokenizer (PreferenceDataModule)")
        ids = dm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ValueError(f"prompt {prompt!r} of {dm.hparams.predict_file!r} encodes to no token")
        x = torch.tensor([ids], device=self.device)
        new = self.policy.generate(x, dm.hparams.max_new_tokens, 0.0, sorted(dm.eos_ids), None)[0].tolist()
        body, terminated = cut_at_eos(new, dm.eos_ids)
        return [{"prompt": prompt, "completion": dm.tokenizer.decode(body), "terminated": terminated,
                 "new_tokens": len(body)}]  # fmt: skip

    # -- generation eval -----------------------------------------------------------------------------
    def on_validation_epoch_end(self) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        prompts = getattr(dm, "eval_prompts", None)
        if not prompts or self.hparams.eval_prompts == 0 or self.trainer.sanity_checking:
            return
        for split, rows in prompts.items():
            rows = rows[: self.hparams.eval_prompts]
            if not rows:
                continue
            greedy = evaluate_prompts(self.policy, dm.tokenizer, dm.eos_ids, rows)
            self.log_dict({f"gen_{split}/{k}": v for k, v in greedy.items()}, rank_zero_only=True)
            if self.hparams.eval_samples > 0:
                hp = self.hparams
                sampled = evaluate_prompts(self.policy, dm.tokenizer, dm.eos_ids, rows, samples=hp.eval_samples,
                                           temperature=hp.eval_temperature, seed=self.global_step)  # fmt: skip
                self.log_dict({f"gen_{split}_sampled/{k}": v for k, v in sampled.items()}, rank_zero_only=True)
