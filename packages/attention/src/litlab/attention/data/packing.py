"""Packing of tokenized documents into fixed-length training sequences.

Documents are joined into one stream with an end-of-text token after each, and the stream is cut into
consecutive windows of T + 1 tokens that overlap by one token (inputs x = w[:-1], targets y = w[1:]),
so every token of the stream is predicted once. The last partial window is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch.utils.data import Dataset


def pack_documents(docs: Iterable[list[int]], eos: int, vocab_size: int) -> np.ndarray:
    """Concatenate token lists with `eos` after each -> a uint16/uint32 stream."""
    dtype = np.uint16 if vocab_size <= 2**16 else np.uint32
    parts = [np.asarray([*ids, eos], dtype=dtype) for ids in docs]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


class PackedDataset(Dataset):
    """Windows of seq_len + 1 tokens [T + 1] (int64) over a token stream.

    Args:
        tokens: the packed stream.
        seq_len: training context T.
    """

    def __init__(self, tokens: np.ndarray, seq_len: int) -> None:
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        self.tokens, self.seq_len = tokens, seq_len
        self.num = max(0, (len(tokens) - 1) // seq_len)

    def __len__(self) -> int:
        return self.num

    def __getitem__(self, i: int) -> torch.Tensor:
        if not 0 <= i < self.num:
            raise IndexError(f"window {i} out of range [0, {self.num})")
        start = i * self.seq_len
        return torch.from_numpy(self.tokens[start : start + self.seq_len + 1].astype(np.int64))
