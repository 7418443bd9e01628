"""Shared parts of the SFT and preference modules: the policy, label log-probs, optimizer, generation eval.

`litlab test` runs the subclass's loss on the held-out test pairs (`test/loss`, `test/reward_accuracy`, ...)
and the generation metrics on the ID and OOD test prompts (`test/gen_id/accuracy`, ...); `litlab predict`
writes one greedy completion per prompt of the data's `predict_file`.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor

from litlab.alignment.lit.checkpointing import PolicyCheckpointMixin, hparams_ignore
from litlab.alignment.lit.generation import cut_at_eos, evaluate_prompts
from litlab.alignment.logprobs import chunked_token_logps
from litlab.alignment.models import PolicyAdapter
from litlab.shared.optim import adamw_warmup_cosine, check_schedule, param_groups, total_training_steps


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
        check_schedule(lr=lr, warmup_steps=warmup_steps, min_lr_ratio=min_lr_ratio, weight_decay=weight_decay)
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
        """AdamW (betas 0.9, 0.95) on the policy's trainable parameters, decay on matrices only; linear
        warmup then cosine to `min_lr_ratio` over the fit's optimizer steps (`--trainer.max_steps`)."""
        hp = self.hparams
        return adamw_warmup_cosine(
            param_groups(self.policy, hp.weight_decay), lr=hp.lr, total_steps=total_training_steps(self.trainer),
            warmup_steps=hp.warmup_steps, min_lr_ratio=hp.min_lr_ratio, betas=(0.9, 0.95),
        )  # fmt: skip

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
            name = type(self).__name__
            raise ValueError(f"{name}.predict needs a datamodule with a tokenizer (PreferenceDataModule)")
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
