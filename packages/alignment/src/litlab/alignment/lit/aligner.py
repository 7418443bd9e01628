"""`PreferenceAligner`: SMPO / DPO / SimPO / ORPO on any policy adapter.

    H    = policy.hidden_states(ids, attn)                       # [2B, T, d]
    logp = chunked_token_logps(H, *policy.output_head(), targets) # [2B, T], 0 off-label
                                                                  # (fused_head: fused_token_loss instead)
    ref  = the same under no_grad for the frozen reference, only if the objective needs one
    loss, info = objective(logp, batch, ref, progress)            # a pure function

The reference is the starting policy: the policy with its LoRA adapters disabled, or else a frozen deep
copy made at construction (after any checkpoint was loaded), kept out of the optimizer and checkpoints.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor

from litlab.alignment.logprobs import fused_token_loss
from litlab.alignment.losses import SMPO, PreferenceObjective
from litlab.alignment.models import PolicyAdapter

from .base import PolicyModule


class PreferenceAligner(PolicyModule):
    """Args:
    policy: the causal LM (LitlabCausalLM or HFCausalLM).
    objective: SMPO (default, modified form), DPO, SimPO or ORPO with their settings.
    lr: peak AdamW learning rate.
    weight_decay: AdamW decay of matrices.
    warmup_steps: linear warmup steps, then cosine decay to min_lr_ratio * lr.
    min_lr_ratio: final learning rate as a fraction of lr.
    token_chunk: token tile of the chunked log-probs.
    vocab_chunk: vocabulary tile of the chunked log-probs.
    eval_prompts: prompts per evaluation split generated at each validation (0: off).
    eval_samples: sampled generations per prompt in addition to greedy (0: greedy only).
    eval_temperature: temperature of those samples.
    fused_head: train through `fused_token_loss` (head and loss fused: gradients formed in the forward, three
        head GEMMs per token instead of four; same values and gradients); validation keeps the chunked path.
    fused_cache_gib: logits cache of the fused path (chunks waiting for their pair / SMPO's pooled rows).
    """

    def __init__(
        self,
        policy: PolicyAdapter,
        objective: PreferenceObjective | None = None,
        lr: float = 1e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 10,
        min_lr_ratio: float = 0.1,
        token_chunk: int = 4096,
        vocab_chunk: int = 32768,
        eval_prompts: int = 64,
        eval_samples: int = 0,
        eval_temperature: float = 0.8,
        fused_head: bool = False,
        fused_cache_gib: float = 6.0,
    ) -> None:
        super().__init__(policy, lr, weight_decay, warmup_steps, min_lr_ratio, token_chunk, vocab_chunk,
                         eval_prompts, eval_samples, eval_temperature)  # fmt: skip
        self.fused_head, self.fused_cache_gib = bool(fused_head), float(fused_cache_gib)
        if not self.fused_cache_gib >= 0.0:
            raise ValueError(f"fused_cache_gib must be >= 0, got {fused_cache_gib!r}")
        self.objective = objective if objective is not None else SMPO()
        if not isinstance(self.objective, PreferenceObjective):
            raise TypeError(f"objective must be a PreferenceObjective, got {type(self.objective).__name__}")
        self._reference: list[PolicyAdapter] = []  # a list keeps it out of state_dict and parameters()
        if self.objective.needs_reference and not policy.has_adapters:
            ref = copy.deepcopy(policy).eval()
            ref.requires_grad_(False)
            self._reference.append(ref)

    def on_fit_start(self) -> None:
        for ref in self._reference:
            ref.to(self.device).eval()

    @torch.no_grad()
    def reference_logps(self, batch: dict[str, Tensor]) -> Tensor:
        if self._reference:
            return self.token_logps(self._reference[0], batch)
        with self.policy.adapters_disabled():
            return self.token_logps(self.policy, batch)

    def fused_loss(self, batch: dict[str, Tensor], ref: Tensor | None, progress: float):
        """(loss, info) of the objective through the fused head (`fused_token_loss`)."""
        hidden = self.policy.hidden_states(batch["input_ids"], batch["attention_mask"])
        weight, bias, transform = self.policy.output_head()
        groups, shared = self.objective.gradient_groups(batch)
        return fused_token_loss(
            hidden.to(weight.dtype), weight, batch["targets"], lambda lp: self.objective(lp, batch, ref, progress),
            bias, transform, groups=groups, shared=shared, token_chunk=self.hparams.token_chunk,
            cache_gib=self.fused_cache_gib,
            partial_loss_fn=lambda lp: self.objective(lp, batch, ref, progress, with_info=False),
        )  # fmt: skip

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        ref = self.reference_logps(batch) if self.objective.needs_reference else None
        fitting = self._trainer is not None and self.trainer.state.fn == "fit"  # test has no training schedule
        progress = self.global_step / max(1, int(self.trainer.estimated_stepping_batches)) if fitting else 1.0
        if self.fused_head and torch.is_grad_enabled():
            loss, info = self.fused_loss(batch, ref, progress)
        else:
            loss, info = self.objective(self.token_logps(self.policy, batch), batch, ref, progress)
        pairs = int(batch["is_rejected"].sum())
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=pairs)
        info.pop("loss")
        if stage != "train":  # a probe absent from this batch (NaN) stays out of the epoch mean, not NaN it
            info = {k: v for k, v in info.items() if not bool(torch.isnan(v.float()).all())}
        self.log_dict({f"{stage}/{k}": v.float() for k, v in info.items()}, batch_size=pairs)
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")
