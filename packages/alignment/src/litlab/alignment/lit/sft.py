"""`SFTModule`: supervised fine-tuning of a policy on the chosen completions (prompt tokens masked).

loss = pooled token mean NLL over completion labels (terminating EOS included). Use with
`PreferenceDataModule(chosen_only=True)`; rejected rows, if present, are ignored.
"""

from __future__ import annotations

from torch import Tensor

from litlab.alignment.losses import pooled_nll
from litlab.alignment.models import PolicyAdapter

from .base import PolicyModule


class SFTModule(PolicyModule):
    """Args:
    policy: the causal LM (LitlabCausalLM or HFCausalLM).
    lr: peak AdamW learning rate.
    weight_decay: AdamW decay of matrices.
    warmup_steps: linear warmup steps, then cosine decay to min_lr_ratio * lr.
    min_lr_ratio: final learning rate as a fraction of lr.
    token_chunk: token tile of the chunked log-probs.
    vocab_chunk: vocabulary tile of the chunked log-probs.
    eval_prompts: prompts per evaluation split generated at each validation (0: off).
    eval_samples: sampled generations per prompt in addition to greedy (0: greedy only).
    eval_temperature: temperature of those samples.
    """

    def __init__(
        self,
        policy: PolicyAdapter,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_steps: int = 50,
        min_lr_ratio: float = 0.1,
        token_chunk: int = 4096,
        vocab_chunk: int = 32768,
        eval_prompts: int = 64,
        eval_samples: int = 0,
        eval_temperature: float = 0.8,
    ) -> None:
        super().__init__(policy, lr, weight_decay, warmup_steps, min_lr_ratio, token_chunk, vocab_chunk,
                         eval_prompts, eval_samples, eval_temperature)  # fmt: skip

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        logps = self.token_logps(self.policy, batch)
        mask = batch["completion_mask"] & ~batch["is_rejected"][:, None]
        loss = pooled_nll(logps, mask)
        eos = logps.detach()[batch["eos_mask"] & mask]
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=int(mask.any(1).sum()))
        if eos.numel():
            self.log(f"{stage}/eos_logp_chosen", eos.mean(), batch_size=int(mask.any(1).sum()))
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")
