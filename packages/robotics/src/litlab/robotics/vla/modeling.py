"""TinyVLA, the action-token arm: a from-scratch pi0-FAST-style policy (FAST, arXiv 2501.09747, Sec. VI).

The prefix [image tokens, text, state] is bidirectional and the postfix ``<action ids> "|" EOS`` causal
after it (``Backbone(x, prefix_len=P)``). Training minimises the cross-entropy of the postfix only:

    L = - sum_{i < L_b} log p(y_i | prefix, y_<i)        y = action ids, "|", EOS   (PAD positions skipped)

so the model learns where a FAST sequence ends. Inference decodes greedily (KV cache / recurrent state
after one prefix prefill) for a budget of steps (p99 FAST length + margin, or exactly H*D + 2 for
binning), optionally with the logits restricted to the action block plus "|"; ``decode_mode`` picks the
processor's relaxed decode (rollouts) or strict decode (metrics).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from litlab.robotics.vla.batching import pad_postfix
from litlab.robotics.vla.configuration import VLAConfig
from litlab.robotics.vla.policy import VLAPolicyBase
from litlab.robotics.vla.processor import ACTION_OFFSET, BAR, EOS, PAD, VLAProcessor

__all__ = ["TinyVLA", "make_policy"]


class TinyVLA(VLAPolicyBase):
    """Autoregressive action tokens (FAST or binning) after a bidirectional image/text/state prefix.

    Args:
        config: sizes and inference options.
        processor: the tokenizers (vocabulary, H, D); kind ``"fast"`` or ``"binning"``.
        decode_budget: generation steps; None: ``processor.decode_budget()`` (set from the training
            lengths by the LightningModule).
    """

    def __init__(self, config: VLAConfig, processor: VLAProcessor, decode_budget: int | None = None):
        if processor.kind == "continuous":
            raise ValueError("TinyVLA needs an action-token processor (kind 'fast' or 'binning'), got 'continuous'")
        super().__init__(config, processor)
        self.lm_head = nn.Linear(config.dim, processor.vocab_size, bias=False)
        nn.init.normal_(self.lm_head.weight, std=0.02)
        self.decode_budget = decode_budget or processor.decode_budget()
        allowed = torch.zeros(processor.vocab_size, dtype=torch.bool)
        allowed[ACTION_OFFSET:] = True
        allowed[BAR] = True
        self.register_buffer("allowed", allowed, persistent=False)
        self.last_decode = None

    def forward(self, batch: dict) -> tuple[Tensor, dict]:
        """Teacher-forced CE on the postfix; info holds accuracies (all postfix tokens / action tokens)."""
        pre = self.prefix(batch)  # (B, P, C)
        post = batch.get("postfix_ids")
        if post is None:
            post = pad_postfix(self.processor.encode_actions(batch["action"]))
        post = post.to(pre.device)  # (B, L)
        p = pre.shape[1]
        h = self.backbone(torch.cat([pre, self.embed(post[:, :-1])], dim=1), prefix_len=p)
        logits = self.lm_head(h[:, p - 1 :])  # (B, L, V): position P-1+i predicts post[:, i]
        loss = F.cross_entropy(logits.flatten(0, 1).float(), post.flatten(), ignore_index=PAD)
        with torch.no_grad():
            hit, real, act = logits.argmax(-1) == post, post != PAD, self.processor.is_action(post)
            info = {"ce": loss.detach(), "token_accuracy": hit[real].float().mean(),
                    "action_token_accuracy": hit[act].float().mean(),
                    "tokens_per_chunk": act.sum(1).float().mean()}
        return loss, info

    @torch.no_grad()
    def generate(self, batch: dict, restrict: bool | None = None, budget: int | None = None) -> Tensor:
        """Greedy postfix ids [B, L] (PAD after a row's terminator); stops when every row has ended."""
        restrict = self.config.restrict_decode if restrict is None else restrict
        pre = self.prefix(batch)
        b = pre.shape[0]
        h, state = self.backbone.prefill(pre, self.backbone.init_state(b), prefix_len=pre.shape[1])
        h = h[:, -1]
        done = torch.zeros(b, dtype=torch.bool, device=pre.device)
        out = []
        for _ in range(budget or self.decode_budget):
            logits = self.lm_head(h).float()
            if restrict:
                logits = logits.masked_fill(~self.allowed, float("-inf"))
            tok = logits.argmax(-1).masked_fill(done, PAD)
            out.append(tok)
            done |= (tok == BAR) | (tok == EOS)
            if bool(done.all()):
                break
            h, state = self.backbone.step(self.embed(tok), state)
        return torch.stack(out, dim=1)

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict, decode_mode: Literal["strict", "relaxed"] = "relaxed") -> Tensor:
        """Normalized chunk [B, H, D]; the decode status is kept in ``self.last_decode``."""
        ids = self.generate(batch)
        self.last_decode = self.processor.decode_actions(ids, decode_mode)
        return self.last_decode.actions.to(self.embed.weight.device)


def make_policy(config: VLAConfig, processor: VLAProcessor, **kwargs) -> nn.Module:
    """The arm that ``config.head`` names: :class:`TinyVLA` (tokens) or :class:`TinyVLAFlow` (flow)."""
    from litlab.robotics.vla.flow import TinyVLAFlow

    return (TinyVLA if config.head == "tokens" else TinyVLAFlow)(config, processor, **kwargs)
