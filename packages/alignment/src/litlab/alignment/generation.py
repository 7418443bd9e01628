"""Rollouts for GRPO: G sampled completions per prompt, stopped per row at the first EOS.

litlab's `CausalLM` decodes recurrently: one parallel prefill of the prompts (chunked lightning attention
with its final state, causal SDPA filling the KV caches of softmax layers), then one O(1) step per token
in lightning layers (an fp32 state [B, H, d, d]) and one cached-attention step in softmax layers.
Hugging Face models decode through their own `generate` (KV cache). Sampling: temperature, then top-k,
then nucleus (top-p, Holtzman et al., arXiv 1904.09751 sec. 3.1); temperature 0 is greedy.

Masks (spec: EOS): a completion's mask runs through its first EOS token, inclusive; tokens after it are
padding. A completion without an EOS within `max_completion_length` is truncated; with
`mask_truncated_completions` its mask is all zero (it keeps its reward and counts in its group's
statistics, but adds no gradient: huggingface/trl PR #3248).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor

from litlab.alignment.models import HFCausalLM, LitlabCausalLM, PolicyAdapter


@dataclass(frozen=True)
class SamplingSettings:
    """How completions are drawn."""

    temperature: float = 1.0
    """Softmax temperature (0: greedy); the training log-probs use the same temperature."""
    top_k: int | None = None
    """Keep the k most likely tokens (None: all)."""
    top_p: float | None = None
    """Keep the smallest set of tokens holding this probability mass (None or 1: all)."""

    def __post_init__(self) -> None:
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1 or None, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1] or None, got {self.top_p}")


def sample_tokens(logits: Tensor, sampling: SamplingSettings, generator: torch.Generator | None = None) -> Tensor:
    """Token ids [B] from logits [B, V] (fp32 math)."""
    if sampling.temperature == 0:
        return logits.argmax(-1)
    z = logits.float() / sampling.temperature
    if sampling.top_k is not None and sampling.top_k < z.shape[-1]:
        kth = z.topk(sampling.top_k, dim=-1).values[:, -1:]
        z = z.masked_fill(z < kth, float("-inf"))
    if sampling.top_p is not None and sampling.top_p < 1:
        ordered, idx = z.sort(-1, descending=True)
        p = ordered.softmax(-1)
        drop = p.cumsum(-1) - p >= sampling.top_p  # the mass ranked above already reaches top_p
        z = z.scatter(-1, idx, ordered.masked_fill(drop, float("-inf")))
    return torch.multinomial(z.softmax(-1), 1, generator=generator)[:, 0]


@torch.no_grad()
def litlab_sample(model, prompt_ids: Tensor, max_new_tokens: int, sampling: SamplingSettings, eos_ids: list[int],
                  pad_id: int, generator: torch.Generator | None = None) -> Tensor:  # fmt: skip
    """Same-length prompts [B, T] -> new tokens [B, n <= max_new_tokens] from a litlab `CausalLM`, by prefill
    then recurrent steps; rows are padded with pad_id after their first EOS; stops once every row ended."""
    backbone = model.backbone
    state = backbone.init_state(prompt_ids.shape[0])
    hidden, state = backbone.prefill(model.embed(prompt_ids), state)
    logits = model.logits(hidden[:, -1])
    eos = torch.tensor(eos_ids, device=prompt_ids.device)
    done = torch.zeros(prompt_ids.shape[0], dtype=torch.bool, device=prompt_ids.device)
    out = []
    for i in range(max_new_tokens):
        token = sample_tokens(logits, sampling, generator).masked_fill(done, pad_id)
        out.append(token)
        done = done | torch.isin(token, eos)
        if i + 1 == max_new_tokens or bool(done.all()):
            break
        hidden, state = backbone.step(model.embed(token), state)
        logits = model.logits(hidden)
    return torch.stack(out, 1) if out else prompt_ids.new_zeros(prompt_ids.shape[0], 0)


@torch.no_grad()
def hf_sample(model, prompt_ids: Tensor, max_new_tokens: int, sampling: SamplingSettings, eos_ids: list[int],
              pad_id: int, generator: torch.Generator | None = None) -> Tensor:  # fmt: skip
    """The same through a Hugging Face model's `generate` (its KV cache; rows padded after their EOS)."""
    if generator is not None:  # HF samples from the global generator: seed it from ours
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device)))
    greedy = sampling.temperature == 0
    out = model.generate(
        input_ids=prompt_ids, attention_mask=torch.ones_like(prompt_ids), max_new_tokens=max_new_tokens,
        do_sample=not greedy, temperature=None if greedy else sampling.temperature, top_k=sampling.top_k or 0,
        top_p=sampling.top_p, eos_token_id=list(eos_ids), pad_token_id=pad_id,
    )  # fmt: skip
    return out[:, prompt_ids.shape[1] :]


def policy_sample(policy: PolicyAdapter, prompt_ids: Tensor, max_new_tokens: int, sampling: SamplingSettings,
                  eos_ids: list[int], pad_id: int, generator: torch.Generator | None = None) -> Tensor:  # fmt: skip
    """Dispatch to the policy's decoder: recurrent for litlab's LM, `generate` for Hugging Face models."""
    if isinstance(policy, LitlabCausalLM):
        return litlab_sample(policy.model, prompt_ids, max_new_tokens, sampling, eos_ids, pad_id, generator)
    if isinstance(policy, HFCausalLM):
        return hf_sample(policy.model, prompt_ids, max_new_tokens, sampling, eos_ids, pad_id, generator)
    out = policy.generate(prompt_ids, max_new_tokens, sampling.temperature, list(eos_ids), generator)
    return out


def completion_masks(tokens: Tensor, eos_ids: list[int], mask_truncated: bool) -> tuple[Tensor, Tensor, Tensor]:
    """(mask [N, L] through the first EOS inclusive, terminated [N], lengths [N]) of new tokens [N, L].
    Truncated rows (no EOS) have length L and, with mask_truncated, an all-zero mask."""
    is_eos = torch.isin(tokens, torch.tensor(eos_ids, device=tokens.device))
    terminated = is_eos.any(1)
    first = torch.where(terminated, is_eos.int().argmax(1), tokens.shape[1] - 1)
    positions = torch.arange(tokens.shape[1], device=tokens.device)
    mask = positions[None, :] <= first[:, None]
    lengths = mask.sum(1)
    if mask_truncated:
        mask = mask & terminated[:, None]
    return mask, terminated, lengths


@dataclass
class Rollout:
    """G completions per prompt, rows prompt-major (row p * G + g)."""

    prompt_ids: list[list[int]]
    """Prompt tokens of each row."""
    completion_ids: Tensor
    """[N, L] new tokens, padded after the first EOS."""
    completion_mask: Tensor
    """[N, L] bool, through the first EOS (zero for truncated rows under mask_truncated_completions)."""
    terminated: Tensor
    """[N] bool: an EOS was emitted."""
    lengths: Tensor
    """[N] completion lengths (EOS included; L for truncated rows)."""
    seconds: float
    """Wall time of the sampling."""

    @property
    def tokens_per_second(self) -> float:
        return float(self.lengths.sum()) / max(self.seconds, 1e-9)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def generate_rollout(policy: PolicyAdapter, prompts: list[list[int]], num_generations: int,
                     max_completion_length: int, sampling: SamplingSettings, eos_ids: list[int], pad_id: int, *,
                     mask_truncated: bool = False, generator: torch.Generator | None = None,
                     batch_size: int | None = None) -> Rollout:  # fmt: skip
    """Sample `num_generations` completions of each prompt (token lists). Prompts of one length decode together,
    in batches of at most `batch_size` rows (None: all); the policy is put in eval mode meanwhile."""
    if num_generations < 1 or max_completion_length < 1 or not prompts:
        raise ValueError(f"need prompts, num_generations >= 1, max_completion_length >= 1; got {len(prompts)}, "
                         f"{num_generations}, {max_completion_length}")  # fmt: skip
    if pad_id in eos_ids:
        raise ValueError(f"pad id {pad_id} is an EOS id {eos_ids}: padding must differ from EOS")
    device = next(policy.parameters()).device
    rows = [p for p in prompts for _ in range(num_generations)]
    by_length: dict[int, list[int]] = {}
    for i, ids in enumerate(rows):
        by_length.setdefault(len(ids), []).append(i)
    out = torch.full((len(rows), max_completion_length), pad_id, dtype=torch.long, device=device)
    was_training = policy.training
    policy.eval()
    _sync(device)
    start = time.perf_counter()
    for idxs in by_length.values():
        step = batch_size or len(idxs)
        for k in range(0, len(idxs), step):
            chunk = idxs[k : k + step]
            ids = torch.tensor([rows[i] for i in chunk], dtype=torch.long, device=device)
            new = policy_sample(policy, ids, max_completion_length, sampling, eos_ids, pad_id, generator)
            out[chunk, : new.shape[1]] = new
    _sync(device)
    seconds = time.perf_counter() - start
    policy.train(was_training)
    mask, terminated, lengths = completion_masks(out, eos_ids, mask_truncated)
    out = out.masked_fill(~(torch.arange(out.shape[1], device=device)[None] < lengths[:, None]), pad_id)
    return Rollout(rows, out, mask, terminated, lengths, seconds)


def rollout_batch(rollout: Rollout, pad_id: int) -> dict[str, Tensor]:
    """Prompt + completion rows for the training forward: input_ids, attention_mask, targets [N, T] (right
    padded; targets[r, t] is the token predicted at position t: the completion tokens under the mask, -100
    elsewhere) and completion_mask [N, T] (= targets != -100)."""
    n, width = rollout.completion_ids.shape
    device = rollout.completion_ids.device
    plen = torch.tensor([len(p) for p in rollout.prompt_ids], device=device)
    total = int(plen.max()) + width
    input_ids = torch.full((n, total), pad_id, dtype=torch.long, device=device)
    targets = torch.full((n, total), -100, dtype=torch.long, device=device)
    cols = plen[:, None] + torch.arange(width, device=device)[None]  # [N, L] positions of the completion tokens
    rows = torch.arange(n, device=device)[:, None].expand(n, width)
    for r, p in enumerate(rollout.prompt_ids):
        input_ids[r, : len(p)] = torch.tensor(p, device=device)
    input_ids[rows, cols] = rollout.completion_ids
    labels = rollout.completion_ids.masked_fill(~rollout.completion_mask, -100)
    targets[rows, cols - 1] = labels
    attention = torch.arange(total, device=device)[None] < (plen + rollout.lengths)[:, None]
    return dict(input_ids=input_ids, attention_mask=attention.long(), targets=targets,
                completion_mask=targets != -100)  # fmt: skip
