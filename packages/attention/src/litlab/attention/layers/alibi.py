"""Position masks of softmax attention without rotary embeddings: ALiBi biases and sliding windows.

ALiBi (Press et al., arXiv 2108.12409, Sec. 3): score(i, j) = q_i k_j^T / sqrt(d) - m_h (i - j), with the
head slopes m_h = 2^(-8 (h+1) / H) (H a power of two; otherwise the paper's interleaving, see
`ops.alibi_slopes`). The bias depends only on i - j, so a sliding-window KV cache never drifts in position.
Sliding window W: query i sees keys j with i - W < j <= i (itself and W - 1 before it).
"""

from __future__ import annotations

import torch
from torch import Tensor


def position_mask(
    q_start: int, t: int, k_start: int, s: int, *, slopes: Tensor | None = None,
    window: int | None = None, device: torch.device | None = None, dtype: torch.dtype = torch.float32,
) -> Tensor:  # fmt: skip
    """The attention mask of t queries at absolute positions q_start.. over s keys at k_start..

    Returns a bool mask [T, S] (True = visible: causal, within the window) without slopes, else an
    additive float mask [H, T, S] in `dtype`: -m_h (i - j) where visible, -inf elsewhere.
    """
    i = torch.arange(q_start, q_start + t, device=device)[:, None]
    j = torch.arange(k_start, k_start + s, device=device)[None, :]
    visible = j <= i
    if window is not None:
        visible = visible & (i - j < window)
    if slopes is None:
        return visible
    dist = (i - j).to(dtype)  # (T, S)
    bias = -slopes.to(device=device, dtype=dtype)[:, None, None] * dist  # (H, T, S)
    return bias.masked_fill(~visible, float("-inf"))
