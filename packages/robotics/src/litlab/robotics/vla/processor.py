"""The VLA processor: normalizers and tokenizers that turn (instruction, state, action chunk) into ids.

As in LeRobot's configuration / modeling / processor split, the tokenizers live here, not in the model,
and are saved with every checkpoint. Vocabulary (ours, from scratch):

    0 PAD | 1 BOS | 2 EOS | 3..258 text bytes | 259..514 state bins | 515.. action block (FAST or bins)

Sequence (pi0-FAST wiring, arXiv 2501.09747 Sec. VI, with our own vocabulary):

    prefix  (bidirectional):  [image tokens] PAD.. BOS "Task: <instr>, State: " <state bins> ";\\nAction: "
    postfix (causal):         <action ids> "|" EOS        (the loss covers exactly these tokens)

The text part is left-padded to ``text_len`` so every row has the same prefix length and a batch
decodes in lock step. The instruction is lowercased with '_' -> ' ' (openpi). State bins are
``floor((y + 1) / 2 * N)`` of the quantile-normalized state ``y``. Actions are quantile-normalized
(q01/q99 of the training split; see :class:`QuantileNormalizer`) and then tokenized by FAST or by
per-dimension binning; an action id is ``action_offset + f``.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from litlab.robotics.tokenizers import BinningTokenizer, FASTTokenizer, QuantileNormalizer

__all__ = ["VLAProcessor", "ActionDecode", "stats_fingerprint", "PAD", "BOS", "EOS"]

PAD, BOS, EOS = 0, 1, 2
TEXT_OFFSET, STATE_OFFSET, STATE_BINS = 3, 259, 256
ACTION_OFFSET = STATE_OFFSET + STATE_BINS
BAR = TEXT_OFFSET + ord("|")  # the terminator after the action tokens
FORMAT_VERSION = 1
ActionKind = Literal["fast", "binning", "continuous"]


def stats_fingerprint(action_q: tuple, state_q: tuple) -> str:
    """sha256 of the q01/q99 of action and state, rounded to 6 significant digits (JSON-stable)."""
    payload = [[float(f"{v:.6g}") for v in np.ravel(q)] for q in (*action_q, *state_q)]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]


@dataclass
class ActionDecode:
    """Normalized chunks ``[B, H, D]`` from generated ids, with per-row status masks ``[B]``."""

    actions: torch.Tensor
    valid: torch.Tensor  # well-formed: action ids only, then the terminator, right length
    failed: torch.Tensor  # the chunk is a zero fallback
    lengths: torch.Tensor  # action tokens before the terminator


class VLAProcessor:
    """Normalizers plus text, state and action tokenizers, saved and loaded as one folder.

    Args:
        kind: ``"fast"`` or ``"binning"`` action tokens, or ``"continuous"`` (no action tokens: the flow head).
        horizon: chunk length H.
        action_norm, state_norm: fitted :class:`QuantileNormalizer` of actions and states.
        fast: fitted :class:`FASTTokenizer` (``kind="fast"``).
        bins: bins per action dimension (``kind="binning"``).
        text_len: text tokens of the prefix (instruction frame included); longer instructions are refused.
    """

    def __init__(self, kind: ActionKind, horizon: int, action_norm: QuantileNormalizer,
                 state_norm: QuantileNormalizer, fast: FASTTokenizer | None = None, bins: int = 256,
                 text_len: int = 64):
        if kind not in ("fast", "binning", "continuous"):
            raise ValueError(f"kind must be 'fast', 'binning' or 'continuous', got {kind!r}")
        if kind == "fast" and (fast is None or fast.bpe is None):
            raise ValueError("kind='fast' needs a fitted FASTTokenizer (fast=...)")
        if horizon < 1 or text_len < 24:
            raise ValueError(f"need horizon >= 1 and text_len >= 24, got {horizon}, {text_len}")
        self.kind, self.horizon, self.text_len = kind, int(horizon), int(text_len)
        self.action_norm, self.state_norm, self.fast = action_norm, state_norm, fast
        self.binning = BinningTokenizer(bins)
        self.action_dim, self.state_dim = action_norm.dim, state_norm.dim
        self.action_vocab = {"fast": fast.vocab_size if fast else 0, "binning": bins, "continuous": 0}[kind]
        self.vocab_size = ACTION_OFFSET + self.action_vocab

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_stats(cls, stats: dict, kind: ActionKind, horizon: int, train_chunks: np.ndarray | None = None,
                   scale: float = 10.0, fast_vocab: int = 1024, **kw) -> VLAProcessor:
        """Build from a LeRobot ``stats.json`` dict; FAST is fitted on the normalized ``train_chunks [N, H, D]``."""
        a, s = stats["action"], stats["observation.state"]
        action_norm = QuantileNormalizer.from_quantiles(a["q01"], a["q99"])
        state_norm = QuantileNormalizer.from_quantiles(s["q01"], s["q99"])
        fast = None
        if kind == "fast":
            if train_chunks is None or len(train_chunks) == 0:
                raise ValueError("kind='fast' needs train_chunks (raw training action windows [N, H, D])")
            fast = FASTTokenizer(scale=scale, vocab_size=fast_vocab).fit(action_norm.transform(train_chunks))
        return cls(kind, horizon, action_norm, state_norm, fast, **kw)

    @classmethod
    def from_dataset(cls, dataset, kind: ActionKind, horizon: int, stride: int = 1, **kw) -> VLAProcessor:
        """Fit on a :class:`LeRobotV3Dataset`'s train split (its ``stats.json`` and full H-step windows)."""
        from litlab.robotics.cli import load_chunks

        raw = load_chunks(dataset, "train", horizon, stride)[0] if kind == "fast" else None
        return cls.from_stats(dataset.stats, kind, horizon, raw, **kw)

    @property
    def fingerprint(self) -> str:
        return stats_fingerprint((self.action_norm.q01, self.action_norm.q99),
                                 (self.state_norm.q01, self.state_norm.q99))

    def check_stats(self, stats: dict, where: str = "dataset") -> None:
        """Refuse statistics (a LeRobot ``stats.json`` dict) that differ from the ones this processor holds."""
        try:
            found = stats_fingerprint((stats["action"]["q01"], stats["action"]["q99"]),
                                      (stats["observation.state"]["q01"], stats["observation.state"]["q99"]))
        except KeyError as e:
            raise ValueError(f"{where} statistics lack {e}; expected action and observation.state q01/q99") from e
        if found != self.fingerprint:
            raise ValueError(
                f"{where} statistics (fingerprint {found}, action q01={stats['action']['q01']}, "
                f"q99={stats['action']['q99']}) do not match the processor's (fingerprint {self.fingerprint}, "
                f"action q01={self.action_norm.q01.tolist()}, q99={self.action_norm.q99.tolist()}): the model "
                "was trained on other normalization; use the dataset it was trained on or retrain")

    # ------------------------------------------------------------------ prefix
    def text_ids(self, task: str) -> list[int]:
        text = "Task: " + task.lower().replace("_", " ") + ", State: "
        return [TEXT_OFFSET + b for b in text.encode("utf-8")]

    def state_ids(self, state_norm: torch.Tensor) -> torch.Tensor:
        """Normalized states ``[B, Ds]`` -> bin ids ``[B, Ds]``."""
        bins = torch.floor((state_norm.clamp(-1, 1) + 1) / 2 * STATE_BINS).long().clamp_(0, STATE_BINS - 1)
        return STATE_OFFSET + bins

    @property
    def prefix_text_len(self) -> int:
        """Tokens of the text prefix: PAD.., BOS, text, state bins, ";\\nAction: "."""
        return self.text_len + self.state_dim + len(";\nAction: ")

    def encode_prefix(self, tasks: list[str], state_norm: torch.Tensor) -> torch.Tensor:
        """Instructions and normalized states ``[B, Ds]`` -> prefix ids ``[B, prefix_text_len]`` (left-padded)."""
        if len(tasks) != len(state_norm):
            raise ValueError(f"got {len(tasks)} tasks for {len(state_norm)} states")
        tail = [TEXT_OFFSET + b for b in b";\nAction: "]
        rows = []
        for task, s in zip(tasks, self.state_ids(state_norm.float().cpu()).tolist()):
            text = [BOS] + self.text_ids(task)
            if len(text) > self.text_len:
                raise ValueError(f"instruction {task!r} needs {len(text)} text tokens > text_len={self.text_len}")
            rows.append([PAD] * (self.text_len - len(text)) + text + s + tail)
        return torch.tensor(rows, dtype=torch.long, device=state_norm.device)

    # ------------------------------------------------------------------ actions
    def encode_actions(self, actions_norm) -> list[list[int]]:
        """Normalized chunks ``[B, H, D]`` -> postfix id lists ``<action ids> "|" EOS``."""
        if self.kind == "continuous":
            raise ValueError("a 'continuous' processor has no action tokens (the flow head reads actions directly)")
        if self.kind == "fast":
            raw = self.fast.encode(actions_norm)
        else:
            raw = self.binning.encode(actions_norm).tolist()
        return [[ACTION_OFFSET + f for f in r] + [BAR, EOS] for r in raw]

    def is_action(self, ids: torch.Tensor) -> torch.Tensor:
        return (ids >= ACTION_OFFSET) & (ids < self.vocab_size)

    def decode_budget(self, lengths: np.ndarray | None = None) -> int:
        """Generation steps: exactly H*D + 2 for binning; p99 of the training lengths + 25% + 4 for FAST."""
        if self.kind == "binning":
            return self.horizon * self.action_dim + 2
        p99 = float(np.percentile(lengths, 99)) if lengths is not None and len(lengths) else 2.0 * self.horizon
        return int(np.ceil(p99 * 1.25)) + 4

    def decode_actions(self, ids: torch.Tensor, mode: Literal["strict", "relaxed"] = "strict") -> ActionDecode:
        """Generated postfix ids ``[B, L]`` -> normalized chunks ``[B, H, D]``.

        strict: the row must be action ids followed by "|" (or EOS) and decode to exactly H*D values;
        anything else is a failure (zero chunk). relaxed: everything up to the first "|"/EOS is kept,
        non-action ids are dropped, and FAST truncates or zero-pads the coefficients (binning repeats the
        last step or truncates), so a rollout always gets a chunk.
        """
        if mode not in ("strict", "relaxed"):
            raise ValueError(f"mode must be 'strict' or 'relaxed', got {mode!r}")
        ids = ids.detach().cpu().long()
        seqs, well_formed = [], []
        for row in ids.tolist():
            stop = next((i for i, t in enumerate(row) if t in (BAR, EOS)), None)
            body = row[: len(row) if stop is None else stop]
            acts = [t - ACTION_OFFSET for t in body if ACTION_OFFSET <= t < self.vocab_size]
            well_formed.append(stop is not None and len(acts) == len(body))
            seqs.append(acts)
        well_formed = torch.tensor(well_formed, dtype=torch.bool)
        lengths = torch.tensor([len(s) for s in seqs])
        h, d = self.horizon, self.action_dim
        if self.kind == "fast":
            res = self.fast.decode_with_info(seqs, h, d, mode=mode, dtype=torch.float32)
            actions, exact = res.actions, res.valid
        else:
            actions, exact = self._decode_bins(seqs, mode)
        valid = well_formed & exact
        failed = ~valid if mode == "strict" else lengths == 0
        actions = torch.where(failed[:, None, None], torch.zeros_like(actions), actions)
        return ActionDecode(actions, valid, failed, lengths)

    def _decode_bins(self, seqs: list[list[int]], mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        h, d = self.horizon, self.action_dim
        out = torch.zeros(len(seqs), h, d)
        exact = torch.tensor([len(s) == h * d for s in seqs], dtype=torch.bool)
        for i, s in enumerate(seqs):
            if not (len(s) == h * d or (mode == "relaxed" and s)):
                continue
            s = s[: h * d]
            s = s[: max(len(s) // d, 1) * d] if len(s) >= d else (s + [s[-1]] * d)[:d]  # whole steps
            y = self.binning.decode(torch.tensor([s]), len(s) // d, d)[0]  # (k, D)
            out[i] = torch.cat([y, y[-1:].expand(h - len(y), d)])  # repeat the last step up to H
        return out, exact

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        d = {"format_version": FORMAT_VERSION, "kind": self.kind, "horizon": self.horizon,
             "text_len": self.text_len, "bins": self.binning.bins, "fingerprint": self.fingerprint,
             "action_norm": self.action_norm.to_dict(), "state_norm": self.state_norm.to_dict(), "fast": None}
        if self.fast is not None:
            with tempfile.TemporaryDirectory() as tmp:
                self.fast.save(tmp)
                d["fast"] = {p.name: p.read_text() for p in sorted(Path(tmp).iterdir())}
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "processor") -> VLAProcessor:
        missing = {"format_version", "kind", "horizon", "action_norm", "state_norm", "fingerprint"} - set(d)
        if missing:
            raise ValueError(f"{where} is missing keys {sorted(missing)}; not a VLAProcessor")
        if d["format_version"] != FORMAT_VERSION:
            raise ValueError(f"{where} has format_version {d['format_version']}, this code reads {FORMAT_VERSION}")
        fast = None
        if d.get("fast"):
            with tempfile.TemporaryDirectory() as tmp:
                for name, text in d["fast"].items():
                    Path(tmp, name).write_text(text)
                fast = FASTTokenizer.load(tmp)
        proc = cls(d["kind"], d["horizon"], QuantileNormalizer.from_dict(d["action_norm"]),
                   QuantileNormalizer.from_dict(d["state_norm"]), fast, d.get("bins", 256), d.get("text_len", 64))
        if proc.fingerprint != d["fingerprint"]:
            raise ValueError(f"{where}: stored fingerprint {d['fingerprint']} does not match its own statistics "
                             f"({proc.fingerprint}); the file is corrupted")
        return proc

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "processor.json").write_text(json.dumps(self.to_dict(), indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> VLAProcessor:
        path = Path(folder) / "processor.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: expected a folder written by VLAProcessor.save")
        try:
            d = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON (corrupted?): {e}") from e
        return cls.from_dict(d, where=str(path))
