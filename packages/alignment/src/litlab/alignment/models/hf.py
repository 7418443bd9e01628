"""A Hugging Face causal LM from a local folder as a policy (optionally with LoRA through `peft`).

Decoder via `get_decoder()` (else `base_model`), head via `get_output_embeddings()`; final-logit
soft-capping (Gemma-2 `final_logit_softcapping`), Cohere `logit_scale` and Granite `logits_scaling` are read
from the config and applied inside the log-prob tiles. Nothing is ever downloaded.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from litlab.alignment.logprobs import HeadTransform

from .base import PolicyAdapter, disable_dropout


@dataclass
class LoraSettings:
    """LoRA adapters (Hu et al., arXiv 2106.09685) through peft."""

    r: int = 8
    """Rank."""
    alpha: float = 16.0
    """Scale numerator (the update is alpha / r * B A)."""
    target_modules: list[str] | str = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    """Module names to adapt, or "all-linear"; the output head must not be among them."""


def head_transform(config) -> HeadTransform:
    scale = float(getattr(config, "logit_scale", None) or 1.0)
    if getattr(config, "logits_scaling", None):
        scale /= float(config.logits_scaling)
    softcap = getattr(config, "final_logit_softcapping", None)
    return HeadTransform(logit_scale=scale, softcap=float(softcap) if softcap else None)


class HFCausalLM(PolicyAdapter):
    """`AutoModelForCausalLM.from_pretrained(path, local_files_only=True)` as a policy.

    Args:
        path: local model folder (config + weights; its tokenizer is what the data module should load).
        dtype: parameter dtype: float32, bfloat16 or float16.
        lora: LoRA settings; None trains all weights. Needs `peft`.
    """

    def __init__(self, path: str, dtype: str = "float32", lora: LoraSettings | None = None) -> None:
        super().__init__()
        from transformers import AutoModelForCausalLM

        if not Path(path).is_dir():
            raise FileNotFoundError(f"HFCausalLM.path must be a local model folder, got {path!r}")
        if dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"HFCausalLM.dtype must be float32, bfloat16 or float16, got {dtype!r}")
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=getattr(torch, dtype))
        disable_dropout(model)
        model.train()  # from_pretrained returns eval mode; dropout is off anyway
        self.transform = head_transform(model.config)
        self.lora = lora
        if lora is not None:
            model = self._wrap_lora(model, lora)
        self.model = model

    @staticmethod
    def _wrap_lora(model, lora: LoraSettings):
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError as err:
            raise ImportError("HFCausalLM.lora needs the `peft` package: pip install peft") from err
        config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=0.0, target_modules=lora.target_modules)
        wrapped = get_peft_model(model, config)
        if hasattr(wrapped.get_base_model().get_output_embeddings(), "lora_A"):
            raise ValueError("LoRA on the output head is not supported: drop it from lora.target_modules")
        return wrapped

    @property
    def base(self):
        return self.model.get_base_model() if self.lora is not None else self.model

    @property
    def has_adapters(self) -> bool:
        return self.lora is not None

    @contextmanager
    def adapters_disabled(self):
        with self.model.disable_adapter():
            yield

    def hidden_states(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        base = self.base
        decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
        decoder = decoder if decoder is not None else base.base_model
        return decoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def output_head(self) -> tuple[Tensor, Tensor | None, HeadTransform]:
        head = self.base.get_output_embeddings()
        return head.weight, getattr(head, "bias", None), self.transform

    @torch.no_grad()
    def generate(self, input_ids, max_new_tokens, temperature, eos_ids, generator=None) -> Tensor:
        if generator is not None:
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        out = self.model.generate(
            input_ids=input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=max_new_tokens,
            do_sample=temperature > 0, temperature=temperature if temperature > 0 else None, top_k=None, top_p=None,
            eos_token_id=list(eos_ids), pad_token_id=eos_ids[0],
        )  # fmt: skip
        return out[:, input_ids.shape[1] :]

    def save_pretrained(self, folder: str, merge_lora: bool = False, tokenizer=None) -> None:
        """Export: the full model, or the LoRA adapter alone (merge_lora=False) / merged into the weights, and the
        tokenizer (a transformers tokenizer, a tokenizer folder or tokenizer.json) when given.

        Merging works on a copy: the policy keeps its adapters."""
        import copy

        model = copy.deepcopy(self.model).merge_and_unload() if (self.lora is not None and merge_lora) else self.model
        model.save_pretrained(folder)
        if tokenizer is not None:
            from litlab.attention.hf import hf_tokenizer

            hf_tokenizer(tokenizer).save_pretrained(folder)
