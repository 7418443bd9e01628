"""litlab's `CausalLM` (packages/attention) as a policy: embeddings -> Backbone (final norm included) -> head."""

from __future__ import annotations

from dataclasses import asdict

import torch
from torch import Tensor

from litlab.alignment.logprobs import HeadTransform
from litlab.attention import BackboneConfig, CausalLM

from .base import PolicyAdapter, disable_dropout, load_weights


class LitlabCausalLM(PolicyAdapter):
    """A litlab `CausalLM`, built from its arguments (or imported from a transformers MiniMax / Llama folder),
    optionally initialised from a checkpoint.

    Args:
        vocab_size: tokens V (at least the tokenizer's length); None only with hf_path.
        backbone: the layer stack (`BackboneConfig` fields).
        tie_embeddings: share the input embedding and the output head (the head gradient reaches it).
        checkpoint: a state dict or Lightning checkpoint (`LanguageModel`, `SFTModule` or `PreferenceAligner`)
            to start from, e.g. the SFT run's last.ckpt.
        hf_path: a local transformers MiniMax or Llama folder (`litlab.attention.hf.from_hf`): architecture and
            weights come from it, running on litlab's kernels (leave vocab_size and backbone unset).
    """

    def __init__(
        self,
        vocab_size: int | None = None,
        backbone: BackboneConfig | None = None,
        tie_embeddings: bool = True,
        checkpoint: str | None = None,
        hf_path: str | None = None,
    ) -> None:
        super().__init__()
        if hf_path is not None:
            if vocab_size is not None or backbone is not None:
                raise ValueError(f"LitlabCausalLM.hf_path={hf_path!r} sets vocab_size and backbone; leave them unset")
            from litlab.attention.hf import from_hf

            self.model = from_hf(hf_path)
        elif vocab_size is None:
            raise ValueError("LitlabCausalLM needs vocab_size (or hf_path)")
        else:
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

    def save_pretrained(self, folder: str, tokenizer=None, **kwargs) -> None:
        """Export as a transformers MiniMax / Llama folder (`CausalLM.save_pretrained`; kwargs such as
        merge_lora do not apply)."""
        kwargs.pop("merge_lora", None)
        self.model.save_pretrained(folder, tokenizer=tokenizer, **kwargs)

    def export_args(self) -> dict:
        """Init arguments that rebuild this policy without its starting files (the weights come from a checkpoint)."""
        return {"vocab_size": self.model.vocab_size, "backbone": asdict(self.model.backbone.config),
                "tie_embeddings": self.model.tie_embeddings, "checkpoint": None, "hf_path": None}  # fmt: skip
