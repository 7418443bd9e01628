"""Causal language model: token embeddings + `Backbone` + (tied) LM head, with cached generation.

logits = W_head · Backbone(E[input_ids]); W_head = E when embeddings are tied (Press & Wolf, arXiv
1608.05859). Generation runs one parallel prefill of the prompt (chunked lightning attention with
`output_final_state`, causal SDPA filling the KV caches), then one recurrent step per new token.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from litlab.attention.models.backbone import Backbone
from litlab.attention.models.config import BackboneConfig
from litlab.attention.models.sampling import check_sampling_args, sample_next


class CausalLM(nn.Module):
    """input_ids [B, T] -> logits [B, T, V].

    Args:
        vocab_size: number of tokens V.
        config: the `BackboneConfig` of the layer stack.
        tie_embeddings: share the input embedding and the output head.
    """

    def __init__(self, vocab_size: int, config: BackboneConfig, tie_embeddings: bool = True) -> None:
        super().__init__()
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
        self.vocab_size, self.tie_embeddings = vocab_size, tie_embeddings
        self.embed = nn.Embedding(vocab_size, config.dim)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.backbone = Backbone.from_config(config)
        self.head = None if tie_embeddings else nn.Linear(config.dim, vocab_size, bias=False)
        if self.head is not None:
            nn.init.normal_(self.head.weight, std=0.02)

    def _check_ids(self, input_ids: Tensor) -> None:
        if input_ids.dim() != 2 or input_ids.shape[1] == 0 or input_ids.dtype not in (torch.long, torch.int):
            raise ValueError(
                f"input_ids must be an int64 tensor [B, T] with T >= 1, got {input_ids.dtype} {tuple(input_ids.shape)}"
            )
        if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= self.vocab_size):
            raise ValueError(
                f"input_ids must be in [0, {self.vocab_size}), got values in "
                f"[{int(input_ids.min())}, {int(input_ids.max())}]"
            )

    def logits(self, hidden: Tensor) -> Tensor:
        """Hidden states [.., C] -> logits [.., V]."""
        return F.linear(hidden, self.head_weight)

    @property
    def head_weight(self) -> Tensor:
        """The output projection [V, C] (the embedding matrix when tied)."""
        return self.embed.weight if self.head is None else self.head.weight

    def hidden_states(self, input_ids: Tensor) -> Tensor:
        """input_ids [B, T] -> final hidden states [B, T, C] (logits = hidden @ head_weight^T)."""
        self._check_ids(input_ids)
        return self.backbone(self.embed(input_ids))

    def forward(self, input_ids: Tensor) -> Tensor:
        return self.logits(self.hidden_states(input_ids))

    def save_pretrained(self, folder, tokenizer=None, **kwargs):
        """Write a transformers folder (MiniMax or Llama; config, safetensors, generation config, tokenizer) that
        `AutoModelForCausalLM` / `AutoTokenizer` load offline; see `litlab.attention.hf.save_pretrained`."""
        from litlab.attention.hf import save_pretrained

        return save_pretrained(self, folder, tokenizer=tokenizer, **kwargs)

    @torch.no_grad()
    def generate(
        self,
        input_ids: Tensor,
        max_new_tokens: int,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        eos_token_id: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Continue prompts [B, T] by up to max_new_tokens tokens -> [B, T + n].

        temperature 0 is greedy. After a sequence emits eos_token_id it is padded with eos; generation
        stops early once every sequence has finished.
        """
        self._check_ids(input_ids)
        check_sampling_args(temperature, top_k, top_p)
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        state = self.backbone.init_state(input_ids.shape[0])
        hidden, state = self.backbone.prefill(self.embed(input_ids), state)
        logits = self.logits(hidden[:, -1])
        out = [input_ids]
        finished = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for i in range(max_new_tokens):
            token = sample_next(logits, temperature, top_k, top_p, generator)
            if eos_token_id is not None:
                token = token.masked_fill(finished, eos_token_id)
                finished |= token == eos_token_id
            out.append(token[:, None].to(input_ids.dtype))
            if i + 1 == max_new_tokens or bool(finished.all()):
                break
            hidden, state = self.backbone.step(self.embed(token), state)
            logits = self.logits(hidden)
        return torch.cat(out, dim=1)
