"""BPE over an integer alphabet (FAST, arXiv 2501.09747, Sec. V-B, "byte-pair encoding" step).

The reference FAST processor hands ``chr(s)`` symbols to a *byte-level* BPE with the GPT-2 regex
pre-tokenizer: symbols that are spaces/digits split the sequence into "words" (about 19% more tokens)
and symbols never seen in the fit silently vanish. Here every integer ``s`` in ``[0, n_symbols)`` is one
private-use code point ``base + s`` (``U+E000`` or, for more than 6,400 symbols, plane 15 ``U+F0000``),
the BPE model has no normalizer, pre-tokenizer or decoder, and the whole alphabet is in the vocabulary,
so any clamped integer sequence encodes and decodes exactly.

Training and the saved model are Hugging Face ``tokenizers``. Encoding uses an equivalent batched
implementation (lowest merge rank first, leftmost first, like ``tokenizers``' ``Word::merge_all``),
compiled with numba when it is installed and otherwise falls back to ``tokenizers`` itself; decoding is
a vectorized table lookup.
"""

from __future__ import annotations

import json

import numpy as np
from tokenizers import Tokenizer, models, trainers

from litlab.robotics.tokenizers import _bpe_kernel

__all__ = ["IntegerBPE", "symbol_base"]

PRIVATE_USE_BMP = 0xE000
PRIVATE_USE_PLANE15 = 0xF0000


def symbol_base(n_symbols: int) -> int:
    """First code point of the symbol range: BMP private use up to 6,400 symbols, else plane 15."""
    if n_symbols <= 6400:
        return PRIVATE_USE_BMP
    if n_symbols <= 65534:
        return PRIVATE_USE_PLANE15
    raise ValueError(f"n_symbols={n_symbols} exceeds the 65,534 private-use code points of plane 15")


def symbols_to_strings(symbols: np.ndarray, base: int) -> list[str]:
    """``symbols: [N, L]`` ints in ``[0, n_symbols)`` -> N strings of L code points (UCS-4 view)."""
    arr = np.ascontiguousarray(symbols.astype(np.uint32) + np.uint32(base))
    return arr.view(f"<U{arr.shape[1]}").ravel().tolist()


class IntegerBPE:
    """A trained BPE over ``n_symbols`` integer symbols, with fast batched encode and decode."""

    def __init__(self, tokenizer: Tokenizer, n_symbols: int, base: int):
        self.tokenizer, self.n_symbols, self.base = tokenizer, int(n_symbols), int(base)
        self._build_tables()

    @classmethod
    def train(cls, strings, n_symbols: int, vocab_size: int, min_frequency: int = 2) -> IntegerBPE:
        """Train on an iterable of symbol strings (one per chunk, no boundary tokens)."""
        base = symbol_base(n_symbols)
        tok = Tokenizer(models.BPE())  # no normalizer, pre-tokenizer, post-processor or decoder
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=[],
            show_progress=False,
            initial_alphabet=[chr(base + s) for s in range(n_symbols)],
            max_token_length=10000,
        )
        tok.train_from_iterator(strings, trainer=trainer)
        return cls(tok, n_symbols, base)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def _build_tables(self):
        vocab = self.tokenizer.get_vocab()
        model = json.loads(self.tokenizer.to_str())["model"]
        v = len(vocab)
        self.symbol_to_id = np.full(self.n_symbols, -1, dtype=np.int32)
        lengths = np.zeros(v, dtype=np.int64)
        pieces: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * v
        for token, i in vocab.items():
            syms = np.frombuffer(token.encode("utf-32-le"), dtype=np.uint32).astype(np.int64) - self.base
            if (syms < 0).any() or (syms >= self.n_symbols).any():
                raise ValueError(f"BPE token {token!r} (id {i}) holds a code point outside the alphabet")
            pieces[i], lengths[i] = syms, len(syms)
            if len(syms) == 1:
                self.symbol_to_id[syms[0]] = i
        missing = np.flatnonzero(self.symbol_to_id < 0)
        if len(missing):
            raise ValueError(f"BPE vocabulary lacks alphabet symbols {missing[:10].tolist()}...")
        self.token_lengths = lengths
        self.token_offsets = np.concatenate([[0], np.cumsum(lengths)])
        self.token_symbols = np.concatenate(pieces) if v else np.zeros(0, dtype=np.int64)
        merges = [p if isinstance(p, list) else p.split(" ") for p in model["merges"]]
        left = np.array([vocab[a] for a, _ in merges], dtype=np.int64)
        right = np.array([vocab[b] for _, b in merges], dtype=np.int64)
        merged = np.array([vocab[a + b] for a, b in merges], dtype=np.int64)
        # The compiled encoder needs every merge to use only tokens made by lower-rank merges (true of any
        # trained BPE); check it so a hand-edited bpe.json cannot silently change the ids.
        made_at = np.full(v, -1, dtype=np.int64)
        made_at[merged] = np.arange(len(merged))
        if len(merged) and (
            (made_at[left] >= np.arange(len(merged))).any() or (made_at[right] >= np.arange(len(merged))).any()
        ):
            raise ValueError("BPE merges are not in creation order; cannot use this merges list")
        self.n_merges = len(merged)
        self.merges = np.ascontiguousarray(np.stack([left, right, merged], 1).reshape(-1, 3), dtype=np.int32)
        self.merge_keys, self.merge_vals = _bpe_kernel.build_merge_table(left, right, merged)

    def encode(self, symbols: np.ndarray, backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
        """``symbols: [N, L]`` ints in ``[0, n_symbols)`` -> (flat ids, per-chunk lengths ``[N]``).

        ``backend``: ``"numba"`` (compiled), ``"tokenizers"`` (Hugging Face) or ``"auto"`` (numba if present).
        """
        if symbols.ndim != 2:
            raise ValueError(f"symbols must be [N, L], got shape {symbols.shape}")
        if backend == "auto":
            backend = "numba" if _bpe_kernel.HAVE_NUMBA else "tokenizers"
        if backend == "numba":
            return _bpe_kernel.encode_batch(symbols, self.symbol_to_id, self.merge_keys, self.merge_vals, self.merges)
        if backend == "tokenizers":
            enc = self.tokenizer.encode_batch_fast(symbols_to_strings(symbols, self.base), add_special_tokens=False)
            ids = [e.ids for e in enc]
            lens = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
            flat = np.fromiter((t for i in ids for t in i), dtype=np.int64, count=int(lens.sum()))
            return flat, lens
        raise ValueError(f"backend must be 'auto', 'numba' or 'tokenizers', got {backend!r}")

    def decode(self, flat_ids: np.ndarray, lengths: np.ndarray, length: int, shift: int = 0):
        """Flat ids + per-chunk lengths -> (``[N, length]`` symbols + shift, zero-padded, and the true
        symbol count per chunk, -1 where a chunk holds an id outside the vocabulary)."""
        return _bpe_kernel.expand_batch(
            flat_ids, lengths, self.token_offsets, self.token_symbols, int(length), int(shift)
        )

    def to_str(self) -> str:
        return self.tokenizer.to_str()

    @classmethod
    def from_str(cls, s: str, n_symbols: int, base: int) -> IntegerBPE:
        return cls(Tokenizer.from_str(s), n_symbols, base)
