"""The reference FAST algorithm as published (arXiv 2501.09747; the ``physical-intelligence/fast``
processor), restated from its description for side-by-side measurement. Never the default.

Differences from :class:`~litlab.robotics.tokenizers.fast.FASTTokenizer` that it keeps on purpose:
* a chunk-by-chunk loop with ``scipy.fft.dct`` / ``idct``;
* symbols ``chr(max(q - min_token, 0))``: only the lower end is clamped, values above ``max_token`` pass;
* Hugging Face's *byte-level* BPE (GPT-2 regex pre-tokenizer, UTF-8 bytes), trained with an initial
  alphabet of ``chr(0..max_token - min_token)``, min_frequency 2, no special tokens, max token length
  10,000; a symbol whose byte-level character was never seen in the fit is silently dropped (spec P1);
* strict decoding: any failure (length other than H*D) gives an all-zero chunk; it is counted here
  (``n_failures``) instead of printed.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.fft import dct, idct
from tokenizers import trainers
from tokenizers.implementations import ByteLevelBPETokenizer

__all__ = ["ReferenceFASTTokenizer"]
log = logging.getLogger(__name__)


class ReferenceFASTTokenizer:
    """Reference FAST (byte-level BPE, no clamping above, chunk-by-chunk numpy/scipy).

    Args:
        scale: DCT coefficient scale.
        vocab_size: BPE vocabulary size.
    """

    def __init__(self, scale: float = 10.0, vocab_size: int = 1024):
        self.scale, self.vocab_size = float(scale), int(vocab_size)
        self.min_token: int | None = None
        self.max_token: int | None = None
        self.bpe = None
        self.n_failures = 0
        self.last_failed: list[int] = []

    def _chunk_string(self, chunk: np.ndarray) -> str:
        coeff = np.around(dct(chunk, axis=0, norm="ortho") * self.scale)
        return "".join(map(chr, np.maximum(coeff.flatten() - self.min_token, 0).astype(int)))

    def fit(self, chunks: np.ndarray) -> ReferenceFASTTokenizer:
        coeffs = [dct(a, axis=0, norm="ortho").flatten() for a in np.asarray(chunks, dtype=np.float64)]
        rounded = np.around(np.concatenate(coeffs) * self.scale)
        self.max_token, self.min_token = int(rounded.max()), int(rounded.min())
        if self.max_token - self.min_token > self.vocab_size:
            raise ValueError(f"vocab_size {self.vocab_size} < integer range {self.max_token - self.min_token}")
        if self.max_token - self.min_token + 100 > self.vocab_size:
            log.warning("reference FAST: integer range within 100 of the vocab size")
        strings = ("".join(map(chr, (np.around(c * self.scale) - self.min_token).astype(int))) for c in coeffs)
        self.bpe = ByteLevelBPETokenizer()
        trainer = trainers.BpeTrainer(
            vocab_size=self.vocab_size,
            min_frequency=2,
            show_progress=False,
            special_tokens=[],
            initial_alphabet=[chr(i) for i in range(self.max_token - self.min_token + 1)],
            max_token_length=10000,
        )
        self.bpe._tokenizer.train_from_iterator(strings, trainer=trainer)
        return self

    def encode(self, chunks: np.ndarray) -> list[list[int]]:
        strings = [self._chunk_string(a) for a in np.asarray(chunks, dtype=np.float64)]
        return [e.ids for e in self.bpe._tokenizer.encode_batch(strings)]

    def decode(self, ids: list[list[int]], horizon: int, action_dim: int) -> np.ndarray:
        """Decode chunk by chunk; failures become zero chunks, counted in ``n_failures`` and listed in
        ``last_failed`` (indices into ``ids``)."""
        out = []
        self.last_failed = []
        for i, seq in enumerate(ids):
            try:
                text = self.bpe._tokenizer.decode(seq)
                coeff = np.array(list(map(ord, text))) + self.min_token
                coeff = coeff.reshape(-1, action_dim)
                if coeff.shape != (horizon, action_dim):
                    raise ValueError(f"decoded shape {coeff.shape} != {(horizon, action_dim)}")
            except ValueError:
                self.n_failures += 1
                self.last_failed.append(i)
                coeff = np.zeros((horizon, action_dim))
            out.append(idct(coeff / self.scale, axis=0, norm="ortho"))
        return np.stack(out)
