"""Input checking and on-disk format of :class:`~litlab.robotics.tokenizers.fast.FASTTokenizer`.

A saved tokenizer is a folder of plain files (spec Sec. 5): ``fast_config.json`` (format version, scale,
vocab size, integer range, H, D, symbol base) and ``bpe.json`` (the Hugging Face ``tokenizers``
serialization). Loading needs neither network access nor remote code.
"""

from __future__ import annotations

import json
from itertools import chain
from pathlib import Path

import numpy as np
import tokenizers
import torch

CONFIG_FILE, BPE_FILE = "fast_config.json", "bpe.json"
_REQUIRED = (
    "format_version",
    "scale",
    "vocab_size",
    "min_frequency",
    "min_token",
    "max_token",
    "symbol_base",
    "horizon",
    "action_dim",
)


def check_ids(ids, lengths=None) -> tuple[np.ndarray, np.ndarray]:
    """Token ids as N lists, or ``[N, L]`` array/tensor plus ``lengths [N]`` -> (flat int64, lengths)."""
    if isinstance(ids, torch.Tensor):
        ids = ids.detach().cpu().numpy()
    if isinstance(ids, np.ndarray):
        if ids.ndim != 2:
            raise ValueError(f"ids as an array must be [N, L], got shape {ids.shape}")
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"ids must hold integers, got dtype {ids.dtype}")
        n, width = ids.shape
        if lengths is None:
            lens = np.full(n, width, dtype=np.int64)
        else:
            lens = np.asarray(lengths.cpu() if isinstance(lengths, torch.Tensor) else lengths, dtype=np.int64)
            if lens.shape != (n,) or (lens < 0).any() or (lens > width).any():
                raise ValueError(f"lengths must be [N]={n} ints in [0, {width}], got {lens!r}")
        keep = np.arange(width)[None, :] < lens[:, None]
        return ids[keep].astype(np.int64), lens
    if lengths is not None:
        raise ValueError("lengths is only used with an [N, L] array of ids, not with lists")
    try:
        seqs = list(ids)
        lens = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
        flat = np.fromiter(chain.from_iterable(seqs), dtype=np.int64, count=int(lens.sum()))
    except (TypeError, ValueError, OverflowError) as e:
        raise TypeError(f"ids must be a list of integer lists or an [N, L] integer array: {e}") from e
    return flat, lens


def save_config(tok, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {
        "format_version": tok.FORMAT_VERSION,
        "kind": "fast",
        "scale": tok.scale,
        "vocab_size": tok.vocab_size,
        "min_frequency": tok.min_frequency,
        "min_token": tok.min_token,
        "max_token": tok.max_token,
        "symbol_base": tok.bpe.base,
        "horizon": tok.horizon,
        "action_dim": tok.action_dim,
        "fit_info": tok.fit_info,
        "tokenizers_version": tokenizers.__version__,
    }
    (folder / CONFIG_FILE).write_text(json.dumps(cfg, indent=2))
    (folder / BPE_FILE).write_text(tok.bpe.to_str())
    return folder


def load_config(folder: Path, version: int) -> tuple[dict, str]:
    cfg_path, bpe_path = folder / CONFIG_FILE, folder / BPE_FILE
    for p in (cfg_path, bpe_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p} not found: expected a folder written by FASTTokenizer.save")
    try:
        cfg = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{cfg_path} is not valid JSON: {e}") from e
    missing = [k for k in _REQUIRED if k not in cfg]
    if missing:
        raise ValueError(f"{cfg_path} is missing keys {missing}")
    if cfg["format_version"] != version:
        raise ValueError(f"{cfg_path} has format_version {cfg['format_version']}, this code reads {version}")
    if (
        not isinstance(cfg["min_token"], int)
        or not isinstance(cfg["max_token"], int)
        or cfg["max_token"] < cfg["min_token"]
    ):
        raise ValueError(f"{cfg_path}: bad integer range [{cfg['min_token']}, {cfg['max_token']}]")
    return cfg, bpe_path.read_text()
