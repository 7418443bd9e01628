"""The policy protocol every aligner uses: hidden states, the output head, generation.

Any causal LM fits by subclassing `PolicyAdapter`: litlab's `CausalLM` (`LitlabCausalLM`) and Hugging Face
`AutoModelForCausalLM` folders (`HFCausalLM`) are provided.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import Tensor, nn

from litlab.alignment.logprobs import HeadTransform


class PolicyAdapter(nn.Module):
    """A causal LM seen as body + head. Subclasses implement the three methods below."""

    def hidden_states(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """[R, T] right-padded ids (and their 0/1 mask) -> final hidden states [R, T, d]."""
        raise NotImplementedError

    def output_head(self) -> tuple[Tensor, Tensor | None, HeadTransform]:
        """(W [V, d], b [V] | None, post-head transform)."""
        raise NotImplementedError

    @torch.no_grad()
    def generate(
        self, input_ids: Tensor, max_new_tokens: int, temperature: float, eos_ids: list[int], generator=None
    ) -> Tensor:
        """Same-length prompts [B, T] -> new tokens [B, n <= max_new_tokens] (anything after an EOS is junk)."""
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        return int(self.output_head()[0].shape[0])

    @contextmanager
    def adapters_disabled(self):
        """Context in which the policy acts as its frozen reference; only LoRA policies support it."""
        raise NotImplementedError(f"{type(self).__name__} has no adapters to disable")
        yield  # pragma: no cover

    @property
    def has_adapters(self) -> bool:
        return False


def disable_dropout(module: nn.Module) -> int:
    """Set p = 0 on every dropout layer (preference training runs without dropout); returns how many."""
    count = 0
    for m in module.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.p = 0.0
            count += 1
    return count


def load_weights(module: nn.Module, path: str, prefixes: tuple[str, ...] = ("", "model.", "policy.model.")) -> str:
    """Load a state dict (plain or inside a Lightning checkpoint) whose keys match module's after stripping
    one of prefixes; returns the prefix used. A checkpoint that matches no prefix exactly is an error."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    want = module.state_dict()
    for prefix in prefixes:
        sub = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if set(sub) == set(want):
            wrong = [
                f"{k}: {tuple(v.shape)} vs {tuple(want[k].shape)}" for k, v in sub.items() if v.shape != want[k].shape
            ]
            if wrong:
                raise ValueError(
                    f"checkpoint {path!r} does not fit the policy (checkpoint vs policy shapes): {wrong[:3]}"
                )
            module.load_state_dict(sub)
            return prefix
    sample = sorted(state)[:4]
    raise ValueError(
        f"checkpoint {path!r} matches the policy under none of the prefixes {prefixes}; keys e.g. {sample}"
    )
