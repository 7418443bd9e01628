"""litlab's `CausalLM` (packages/attention) as a policy: embeddings -> Backbone (final norm included) -> head."""

from __future__ import annotations

import torch
from torch import Tensor

from litlab.alignment.logprobs import HeadTransform
from litlab.attention import BackboneConfig, CausalLM

from .base import PolicyAdapter, disable_dropout, load_weights


class LitlabCausalLM(PolicyAdapter):
    """A litlab `CausalLM`, built from its arguments, optionally initialised from a checkpoint.

    Args:
        vocab_size: tokens V (at least the tokenizer's length).
        backbone: the layer stack (`BackboneConfig` fields).
        tie_embeddings: share the input embedding and the output head (the head gradient reaches it).
        checkpoint: a state dict or Lightning checkpoint (`LanguageModel`, `SFTModule` or `PreferenceAligner`)
            to start from, e.g. the SFT run's last.ckpt.
    """

    def __init__(
        self,
        vocab_size: int,
        backbone: BackboneConfig | None = None,
        tie_embeddings: bool = True,
        checkpoint: str | None = None,
    ) -> None:
        super().__init__()
        self.model = CausalLM(vocab_size, backbone if backbone is not None else BackboneConfig(), tie_embeddings)
        disable_dropout(self.model)
        if checkpoint is not None:
            load_weights(self.model, checkpoint, prefixes=("", "model.", "policy.model."))

    def hidden_states(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        # Right padding under a causal mixer: real tokens never see the pads, so the mask is not needed.
        return self.model.hidden_states(input_ids)  # checks the ids

    def output_head(self) -> tuple[Tensor, Tensor | None, HeadTransform]:
        return self.model.head_weight, None, HeadTransform()  # the embedding matrix when tied

    @torch.no_grad()
    def generate(self, input_ids, max_new_tokens, temperature, eos_ids, generator=None) -> Tensor:
        out = self.model.generate(
            input_ids, max_new_tokens, temperature=temperature, eos_token_id=eos_ids[0], generator=generator
        )
        return out[:, input_ids.shape[1] :]
