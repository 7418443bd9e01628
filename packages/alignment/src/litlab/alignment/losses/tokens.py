"""Token-level reductions shared by the objectives: pair rows, sequence scores, pooled NLL, EOS probes.

A preference batch holds 2B rows: chosen and rejected answers, marked by `is_rejected` [2B] and matched
by `pair_index` [2B] (never by slicing a flattened token vector). `completion_mask` [2B, T] marks the
completion label positions (terminating EOS included); `eos_mask` [2B, T] the EOS labels among them.
"""

from __future__ import annotations

import torch
from torch import Tensor


def pair_rows(is_rejected: Tensor, pair_index: Tensor) -> tuple[Tensor, Tensor]:
    """Row indices (chosen [B], rejected [B]) ordered by pair index; each pair needs one row of each."""
    chosen = (~is_rejected).nonzero().flatten()
    rejected = is_rejected.nonzero().flatten()
    chosen = chosen[pair_index[chosen].argsort()]
    rejected = rejected[pair_index[rejected].argsort()]
    if chosen.numel() != rejected.numel() or not torch.equal(pair_index[chosen], pair_index[rejected]):
        raise ValueError(
            "every pair_index needs exactly one chosen and one rejected row, got chosen pairs "
            f"{pair_index[chosen].tolist()} and rejected pairs {pair_index[rejected].tolist()}"
        )
    return chosen, rejected


def sequence_scores(token_logps: Tensor, completion_mask: Tensor, *, average: bool) -> Tensor:
    """Per-row sum (average=False) or mean (average=True) of completion log-probs [N]."""
    counts = completion_mask.sum(-1)
    if bool((counts == 0).any()):
        raise ValueError(f"rows {(counts == 0).nonzero().flatten().tolist()} have no completion token")
    total = (token_logps * completion_mask).sum(-1)
    return total / counts.to(total.dtype) if average else total


def pooled_nll(token_logps: Tensor, mask: Tensor) -> Tensor:
    """Pooled token mean NLL: -sum over all masked tokens of all rows / their count (0 if none)."""
    count = mask.sum()
    total = (token_logps * mask).sum()
    return -total / count.clamp_min(1).to(total.dtype)


def eos_probes(token_logps: Tensor, eos_mask: Tensor, is_rejected: Tensor) -> dict[str, Tensor]:
    """Raw EOS log-probs for logging: rejected mean and min, chosen mean (NaN when absent)."""
    lp = token_logps.detach()
    out = {}
    for name, rows in (("rejected", is_rejected), ("chosen", ~is_rejected)):
        vals = lp[eos_mask & rows[:, None]]
        out[f"eos_logp_{name}"] = vals.mean() if vals.numel() else lp.new_tensor(float("nan"))
        if name == "rejected":
            out["eos_logp_rejected_min"] = vals.min() if vals.numel() else lp.new_tensor(float("nan"))
    return out
