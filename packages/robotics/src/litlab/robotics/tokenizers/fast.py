"""FAST: Frequency-space Action Sequence Tokenization (Pertsch et al., arXiv 2501.09747, Sec. V, Alg. 1).

Encode a normalized chunk ``a: [H, D]``: DCT-II along time (Eq. 1), ``q = round(scale * C)``, flatten
row by row so position ``k * D + d`` holds frequency k of dimension d (low frequencies of all dimensions
first; the paper's "column-first" order of its ``[D, H]`` drawing), then BPE. Decode inverts each step.

Deviations from the reference processor, on purpose:
* integers are **clamped** to the fitted range ``[min_token, max_token]`` and the clamps are counted and
  logged, instead of clamping only below and silently dropping unseen symbols (spec P1);
* BPE runs over an integer alphabet without a byte-level pre-tokenizer (spec P2, ``bpe.py``);
* decoding never prints: ``decode_with_info`` returns ``valid``/``repaired``/``failed`` masks, ``decode``
  raises :class:`FASTDecodeError` in ``strict`` mode, and ``relaxed`` mode truncates or zero-pads the
  coefficients on the right (LeRobot's ``relaxed_decoding``); H and D are fitted state, overridable per
  call, never cached from encode calls.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from litlab.robotics.tokenizers.bpe import IntegerBPE, symbol_base, symbols_to_strings
from litlab.robotics.tokenizers.dct import as_chunks, dct, fast_coefficients, idct
from litlab.robotics.tokenizers.serialization import check_ids, load_config, save_config

__all__ = ["FASTTokenizer", "DecodeResult", "FASTDecodeError"]
BLOCK = 1024  # chunks per encode/decode block
log = logging.getLogger(__name__)


@dataclass
class DecodeResult:
    """Decoded chunks and per-chunk status (all masks ``[N]`` bool).

    ``valid``: exactly H*D coefficients from in-vocabulary ids, decoded without repair. ``repaired``:
    relaxed mode truncated or zero-padded it. ``failed``: returned as the all-zero fallback chunk.
    """

    actions: torch.Tensor
    valid: torch.Tensor
    repaired: torch.Tensor
    failed: torch.Tensor

    @property
    def n_failures(self) -> int:
        return int(self.failed.sum())

    @property
    def n_repairs(self) -> int:
        return int(self.repaired.sum())


class FASTDecodeError(ValueError):
    """Strict decoding met token sequences that do not form H*D coefficients; ``.result`` holds the
    decode with zero chunks in their place."""

    def __init__(self, message: str, result: DecodeResult):
        super().__init__(message)
        self.result = result


class FASTTokenizer:
    """FAST action tokenizer over normalized chunks ``[N, H, D]`` (values in [-1, 1]).

    Args:
        scale: DCT coefficient scale before rounding (larger: more tokens, smaller error).
        vocab_size: BPE vocabulary size, alphabet included.
        min_frequency: minimum pair count for a BPE merge.
        horizon: default H for decode (set by ``fit``).
        action_dim: default D for decode (set by ``fit``).
        backend: BPE encoder, ``"auto"`` (compiled if numba is installed), ``"numba"`` or ``"tokenizers"``.
    """

    FORMAT_VERSION = 1

    def __init__(
        self,
        scale: float = 10.0,
        vocab_size: int = 1024,
        min_frequency: int = 2,
        horizon: int | None = None,
        action_dim: int | None = None,
        backend: str = "auto",
    ):
        if not (isinstance(scale, (int, float)) and np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive finite number, got {scale!r}")
        if not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(f"vocab_size must be an int >= 2, got {vocab_size!r}")
        if not isinstance(min_frequency, int) or min_frequency < 1:
            raise ValueError(f"min_frequency must be an int >= 1, got {min_frequency!r}")
        if backend not in ("auto", "numba", "tokenizers"):
            raise ValueError(f"backend must be 'auto', 'numba' or 'tokenizers', got {backend!r}")
        self.scale, self.vocab_size, self.min_frequency = float(scale), vocab_size, min_frequency
        self.horizon, self.action_dim, self.backend = horizon, action_dim, backend
        self.min_token: int | None = None
        self.max_token: int | None = None
        self.bpe: IntegerBPE | None = None
        self.fit_info: dict = {}
        self.stats = {"encoded": 0, "clamped": 0, "decoded": 0, "decode_failures": 0, "decode_repairs": 0}

    # ------------------------------------------------------------------ fitting
    def fit(self, chunks) -> FASTTokenizer:
        """Learn the integer range and the BPE on training chunks ``[N, H, D]``; sets H and D."""
        x = as_chunks(chunks)
        _, h, d = x.shape
        self._fit_flat([fast_coefficients(x, self.scale).reshape(len(x), h * d).numpy()])
        self.horizon, self.action_dim = h, d
        self.fit_info = {"n_chunks": len(x), "horizon": h, "action_dim": d}
        return self

    def fit_universal(self, chunk_sets, pad_to: int = 32) -> FASTTokenizer:
        """FAST+-style fit (paper App. A): each set ``[N_i, H_i, D_i]`` (own H and D, already normalized
        with its own dataset's quantiles) is zero-padded to ``pad_to`` dims; one BPE over all of them.

        H and D are left unset: pass ``horizon``/``action_dim`` (and ``pad_to`` if padded) to decode.
        """
        if not chunk_sets:
            raise ValueError("chunk_sets is empty; need at least one [N, H, D] array")
        rows = []
        for i, chunks in enumerate(chunk_sets):
            x = as_chunks(chunks, name=f"chunk_sets[{i}]")
            if x.shape[2] > pad_to:
                raise ValueError(f"chunk_sets[{i}] has D={x.shape[2]} > pad_to={pad_to}")
            x = torch.nn.functional.pad(x, (0, pad_to - x.shape[2]))
            rows.append(fast_coefficients(x, self.scale).reshape(len(x), -1).numpy())
        self._fit_flat(rows)
        self.horizon = self.action_dim = None
        self.fit_info = {"universal": True, "pad_to": pad_to, "sets": [list(np.shape(c)) for c in chunk_sets]}
        return self

    def _fit_flat(self, rows: list[np.ndarray]):
        lo = min(int(r.min()) for r in rows)
        hi = max(int(r.max()) for r in rows)
        n_symbols = hi - lo + 1
        if n_symbols > self.vocab_size:
            raise ValueError(
                f"the fitted integer range [{lo}, {hi}] needs {n_symbols} symbols > vocab_size="
                f"{self.vocab_size}; lower scale (now {self.scale}) or raise vocab_size"
            )
        if n_symbols + 100 > self.vocab_size:
            log.warning(
                "integer range needs %d of %d vocab entries; BPE has few merges left", n_symbols, self.vocab_size
            )
        strings = (s for r in rows for s in symbols_to_strings(r - lo, symbol_base(n_symbols)))
        self.bpe = IntegerBPE.train(strings, n_symbols, self.vocab_size, self.min_frequency)
        self.min_token, self.max_token = lo, hi

    # ------------------------------------------------------------------ encoding
    def _check_fitted(self):
        if self.bpe is None:
            raise RuntimeError("FASTTokenizer is not fitted; call fit(), fit_universal() or load() first")

    def symbols(self, chunks, pad_to: int | None = None) -> np.ndarray:
        """Clamped symbols ``[N, H * D']`` (D' = pad_to or D) in ``[0, max_token - min_token]``."""
        self._check_fitted()
        x = as_chunks(chunks)
        for axis, name, fitted in ((1, "horizon", self.horizon), (2, "action_dim", self.action_dim)):
            if fitted is not None and x.shape[axis] != fitted:  # set by fit() / load(); None after fit_universal
                raise ValueError(f"chunks of shape {tuple(x.shape)} have {name} {x.shape[axis]}; this tokenizer "
                                 f"was fitted on [N, {self.horizon}, {self.action_dim}] chunks")  # fmt: skip
        if x.shape[1] < 8:
            log.warning("FAST on very short chunks (H=%d < 8) compresses poorly", x.shape[1])
        if pad_to is not None:
            if x.shape[2] > pad_to:
                raise ValueError(f"chunks have D={x.shape[2]} > pad_to={pad_to}")
            x = torch.nn.functional.pad(x, (0, pad_to - x.shape[2]))
        q = dct(x).mul_(self.scale).round_().reshape(len(x), -1)
        lo, hi = torch.aminmax(q) if q.numel() else (q.new_zeros(()), q.new_zeros(()))
        n_clamped = 0
        if lo < self.min_token or hi > self.max_token:  # count only when something is out of range
            n_clamped = int(((q < self.min_token) | (q > self.max_token)).sum())
        self.stats["encoded"] += len(q)
        if n_clamped:
            self.stats["clamped"] += n_clamped
            log.warning(
                "FAST encode clamped %d of %d coefficients to the fitted range [%d, %d]",
                n_clamped,
                q.numel(),
                self.min_token,
                self.max_token,
            )
        q = q.clamp_(self.min_token, self.max_token).sub_(self.min_token)
        return q.to(device="cpu", dtype=torch.int32).numpy()

    def encode_flat(self, chunks, pad_to: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Encode to (flat ids, per-chunk lengths ``[N]``) without building Python lists.

        Works in blocks of ``BLOCK`` chunks so the intermediate arrays stay in cache.
        """
        self._check_fitted()
        x = as_chunks(chunks)
        parts = [
            self.bpe.encode(self.symbols(x[i : i + BLOCK], pad_to), self.backend)
            for i in range(0, max(len(x), 1), BLOCK)
        ]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def encode(self, chunks, pad_to: int | None = None) -> list[list[int]]:
        """Encode normalized chunks ``[N, H, D]`` (numpy or torch, any device) to N token-id lists."""
        flat, lens = self.encode_flat(chunks, pad_to)
        ends = np.cumsum(lens).tolist()
        flat = flat.tolist()
        return [flat[e - n : e] for e, n in zip(ends, lens.tolist())]

    # ------------------------------------------------------------------ decoding
    def decode_with_info(
        self,
        ids,
        horizon: int | None = None,
        action_dim: int | None = None,
        mode: Literal["strict", "relaxed"] = "strict",
        lengths=None,
        pad_to: int | None = None,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> DecodeResult:
        """Decode token ids to normalized chunks ``[N, H, D]`` with status masks; never raises on content.

        Args:
            ids: N id lists, or an ``[N, L]`` array/tensor with ``lengths [N]`` (padding on the right).
            horizon, action_dim: H and D (default: the fitted ones).
            mode: ``"strict"`` (wrong length -> failed, zeros) or ``"relaxed"`` (truncate / zero-pad).
            pad_to: the chunks were encoded padded to this many dims; dims >= action_dim are dropped.
        """
        self._check_fitted()
        if mode not in ("strict", "relaxed"):
            raise ValueError(f"mode must be 'strict' or 'relaxed', got {mode!r}")
        h = horizon if horizon is not None else self.horizon
        d = action_dim if action_dim is not None else self.action_dim
        if not (isinstance(h, int) and isinstance(d, int) and h >= 1 and d >= 1):
            raise ValueError(
                f"decode needs positive int horizon and action_dim, got {h!r} and {d!r} "
                "(a universal fit stores neither: pass them)"
            )
        width = pad_to if pad_to is not None else d
        if width < d:
            raise ValueError(f"pad_to={pad_to} is smaller than action_dim={d}")
        flat, lens = check_ids(ids, lengths)
        n, starts = len(lens), np.concatenate([[0], np.cumsum(lens)])
        actions = torch.empty((n, h, d), dtype=dtype, device=device)
        exact, foreign, failed = (np.zeros(n, dtype=bool) for _ in range(3))
        for i in range(0, n, BLOCK):  # blocks keep the [B, H * width] coefficients in cache
            j = min(n, i + BLOCK)
            coeffs, n_sym = self.bpe.decode(flat[starts[i] : starts[j]], lens[i:j], h * width, self.min_token)
            foreign[i:j], exact[i:j] = n_sym < 0, n_sym == h * width
            failed[i:j] = foreign[i:j] | (~exact[i:j] if mode == "strict" else False)
            coeffs[failed[i:j]] = 0
            c = torch.from_numpy(coeffs).to(device=device, dtype=dtype).reshape(j - i, h, width)
            actions[i:j] = idct(c / self.scale)[..., :d]
        self.stats["decoded"] += n
        self.stats["decode_failures"] += int(failed.sum())
        repaired = ~exact & ~failed
        self.stats["decode_repairs"] += int(repaired.sum())
        return DecodeResult(
            actions, torch.from_numpy(exact & ~foreign), torch.from_numpy(repaired), torch.from_numpy(failed)
        )

    def decode(
        self,
        ids,
        horizon: int | None = None,
        action_dim: int | None = None,
        mode: Literal["strict", "relaxed"] = "strict",
        **kwargs,
    ) -> torch.Tensor:
        """Decode to normalized chunks ``[N, H, D]``; see :meth:`decode_with_info` for the arguments.

        ``strict`` raises :class:`FASTDecodeError` if any sequence does not form exactly H*D coefficients
        of in-vocabulary ids; ``relaxed`` repairs lengths and raises only for out-of-vocabulary ids.
        """
        res = self.decode_with_info(ids, horizon, action_dim, mode, **kwargs)
        if res.n_failures:
            bad = torch.nonzero(res.failed).flatten()[:10].tolist()
            raise FASTDecodeError(
                f"{res.n_failures} of {len(res.failed)} token sequences could not be decoded in {mode} "
                f"mode (first indices {bad}); use decode_with_info() to get zero chunks instead",
                res,
            )
        if res.n_repairs:
            log.info("FAST relaxed decode repaired %d of %d sequences", res.n_repairs, len(res.failed))
        return res.actions

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write ``fast_config.json`` and ``bpe.json`` into the folder ``path`` (created if needed)."""
        self._check_fitted()
        return save_config(self, Path(path))

    @classmethod
    def load(cls, path: str | Path) -> FASTTokenizer:
        """Load a folder written by :meth:`save` (no network, no remote code)."""
        cfg, bpe_str = load_config(Path(path), cls.FORMAT_VERSION)
        tok = cls(cfg["scale"], cfg["vocab_size"], cfg["min_frequency"], cfg["horizon"], cfg["action_dim"])
        tok.min_token, tok.max_token = cfg["min_token"], cfg["max_token"]
        tok.bpe = IntegerBPE.from_str(bpe_str, cfg["max_token"] - cfg["min_token"] + 1, cfg["symbol_base"])
        tok.fit_info = cfg.get("fit_info", {})
        return tok

    def __repr__(self) -> str:
        fitted = f", range=[{self.min_token}, {self.max_token}]" if self.bpe else ", unfitted"
        return (
            f"FASTTokenizer(scale={self.scale}, vocab_size={self.vocab_size}, H={self.horizon}, "
            f"D={self.action_dim}{fitted})"
        )
