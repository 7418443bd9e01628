"""Generation metrics on verifiable prompts: EOS termination, repetition, accuracy, length.

- terminated: an EOS id appears within L_max new tokens (L_max = 4x the longest reference completion in
  tokens: a row's `chosen` text when it has one, e.g. a worked reasoning answer, else the answer-only
  `<answer>...</answer>`; or the caller's max_new_tokens).
- repetition: some token 4-gram occurs >= 3 times before the EOS (or L_max); distinct-4 = unique / all 4-grams.
- accuracy: the verifier on the text before the EOS; a completion that never terminates counts as wrong.
"""

from __future__ import annotations

from collections import Counter

import torch

from litlab.alignment.data.synthetic import answer_text, is_correct


def cut_at_eos(tokens: list[int], eos_ids: set[int]) -> tuple[list[int], bool]:
    """(tokens before the first EOS, whether an EOS was emitted)."""
    for i, t in enumerate(tokens):
        if t in eos_ids:
            return tokens[:i], True
    return tokens, False


def ngram_stats(tokens: list[int], n: int = 4, repeats: int = 3) -> tuple[bool, float]:
    """(some n-gram occurs >= repeats times, distinct-n ratio; 1.0 when there is no n-gram)."""
    grams = Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    total = sum(grams.values())
    return (max(grams.values(), default=0) >= repeats), (len(grams) / total if total else 1.0)


def completion_metrics(tokens: list[int], eos_ids: set[int], answer: str, decode) -> dict[str, float]:
    body, terminated = cut_at_eos(tokens, eos_ids)
    repeated, distinct = ngram_stats(body)
    correct = terminated and is_correct(decode(body), answer)
    return dict(eos_rate=float(terminated), repetition_rate=float(repeated), distinct4=distinct,
                accuracy=float(correct), length=float(len(body)))  # fmt: skip


def reference_tokens(tokenizer, row: dict) -> int:
    """Tokens of a row's reference completion plus EOS: its `chosen` text if any, else `<answer>gold</answer>`
    (an answer-only length would cut worked, reasoning-format completions short)."""
    chosen = row.get("chosen")
    text = chosen if isinstance(chosen, str) and chosen else answer_text(row["answer"])
    return len(tokenizer(text, add_special_tokens=False)["input_ids"]) + 1


@torch.no_grad()
def evaluate_prompts(policy, tokenizer, eos_ids: set[int], rows: list[dict], *, temperature: float = 0.0,
                     samples: int = 1, seed: int = 0, batch_size: int = 64,
                     max_new_tokens: int | None = None) -> dict[str, float]:  # fmt: skip
    """Mean metrics over rows {"prompt", "answer"} x samples generations; prompts are batched by length."""
    if not rows:
        raise ValueError("evaluate_prompts needs at least one prompt row")
    if max_new_tokens is not None and max_new_tokens < 1:
        raise ValueError(f"evaluate_prompts: max_new_tokens must be >= 1 or None, got {max_new_tokens}")
    device = next(policy.parameters()).device
    max_new = max_new_tokens or 4 * max(reference_tokens(tokenizer, r) for r in rows)
    encoded = [tokenizer(r["prompt"], add_special_tokens=False)["input_ids"] for r in rows]
    by_length: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(i)
    generator = torch.Generator(device=device).manual_seed(seed)
    eos_list, totals, count = sorted(eos_ids), Counter(), 0
    was_training = policy.training
    policy.eval()
    for idxs in by_length.values():
        for k in range(0, len(idxs), batch_size):
            chunk = idxs[k : k + batch_size]
            ids = torch.tensor([encoded[i] for i in chunk], device=device).repeat(samples, 1)
            new = policy.generate(ids, max_new, temperature, eos_list, generator if temperature > 0 else None)
            for j, tokens in enumerate(new.tolist()):
                row = rows[chunk[j % len(chunk)]]
                totals.update(completion_metrics(tokens, eos_ids, row["answer"], tokenizer.decode))
                count += 1
    policy.train(was_training)
    return {k: v / count for k, v in totals.items()}
