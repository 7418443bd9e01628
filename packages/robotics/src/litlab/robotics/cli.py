"""``litlab-robotics`` / ``python -m litlab.robotics``: generate a dataset, fit a FAST tokenizer, report.

    python -m litlab.robotics generate --out data/pm50 --episodes 200 --fps 50
    python -m litlab.robotics fit --dataset data/pm50 --out runs/fast_pm50 [--horizon 50] [--scale 10]
    python -m litlab.robotics report --dataset data/pm50 --tokenizer runs/fast_pm50 [--split val]

``fit`` reads the train split only: q01/q99 from ``meta/stats.json`` (computed on training episodes), all
full one-horizon windows, then writes ``fast_config.json``, ``bpe.json`` and ``normalizer.json``.
``report`` prints tokens per chunk (mean, p50, p99, max) against naive binning's H*D, reconstruction MAE
in normalized and raw units, strict round-trip failures and clamp counts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

__all__ = ["main", "load_chunks", "report"]


def load_chunks(dataset, split: str, horizon: int, stride: int):
    """Raw and normalized full windows ``[N, H, D]`` of ``split`` plus the dataset's normalizer."""
    from litlab.robotics.data.chunks import chunk_windows
    from litlab.robotics.tokenizers import QuantileNormalizer

    win = chunk_windows(dataset, dataset.split_episodes(split), horizon, stride, full_only=True)
    if len(win) == 0:
        raise ValueError(f"no full {horizon}-step windows in split {split!r}; lower --horizon")
    raw = dataset.columns["action"][win[:, :1] + np.arange(horizon)].astype(np.float64)
    st = dataset.stats["action"]
    norm = QuantileNormalizer.from_quantiles(
        st["q01"], st["q99"], source={"dataset": str(dataset.root), "split": "train"}
    )
    return raw, norm.transform(raw), norm


def report(tok, norm, raw: np.ndarray, normalized: np.ndarray) -> dict:
    """Compression and reconstruction metrics of ``tok`` on chunks ``[N, H, D]``."""
    from litlab.robotics.tokenizers import BinningTokenizer

    n, h, d = normalized.shape
    clamped0 = tok.stats["clamped"]
    ids = tok.encode(normalized)
    res = tok.decode_with_info(ids, h, d, mode="strict")
    rec = res.actions.numpy()
    lens = np.array([len(i) for i in ids])
    binning = BinningTokenizer(256)
    bin_rec = binning.decode(binning.encode(normalized), h, d).double().numpy()
    return {
        "chunks": n,
        "horizon": h,
        "action_dim": d,
        "naive_tokens": h * d,
        "fast_tokens_mean": float(lens.mean()),
        "fast_tokens_p50": float(np.percentile(lens, 50)),
        "fast_tokens_p99": float(np.percentile(lens, 99)),
        "fast_tokens_max": int(lens.max()),
        "compression": float(h * d / lens.mean()),
        "mae_normalized": float(np.abs(rec - normalized).mean()),
        "mae_raw": float(np.abs(norm.inverse(rec) - norm.inverse(normalized)).mean()),
        "binning_mae_normalized": float(np.abs(bin_rec - normalized).mean()),
        "strict_failures": res.n_failures,
        "clamped_coefficients": tok.stats["clamped"] - clamped0,
    }


def _generate(a):
    from litlab.robotics.data.generate import generate_pointmass_dataset

    out = generate_pointmass_dataset(
        a.out, a.episodes, a.val_episodes, a.fps, a.image_size, a.seed, a.noise_prob, a.noise_std, progress=True
    )
    print(json.dumps(out | {"out": a.out}, indent=2))


def _fit(a):
    from litlab.robotics.data.lerobot_v3 import LeRobotV3Dataset
    from litlab.robotics.tokenizers import FASTTokenizer

    ds = LeRobotV3Dataset(a.dataset)
    horizon = a.horizon or ds.fps
    raw, normalized, norm = load_chunks(ds, "train", horizon, a.stride)
    tok = FASTTokenizer(scale=a.scale, vocab_size=a.vocab_size).fit(normalized)
    tok.save(a.out)
    norm.save(Path(a.out) / "normalizer.json")
    print(json.dumps({"fitted_on": "train", "out": a.out} | report(tok, norm, raw, normalized), indent=2))


def _report(a):
    from litlab.robotics.data.lerobot_v3 import LeRobotV3Dataset
    from litlab.robotics.tokenizers import FASTTokenizer, QuantileNormalizer

    tok = FASTTokenizer.load(a.tokenizer)
    norm = QuantileNormalizer.load(Path(a.tokenizer) / "normalizer.json")
    ds = LeRobotV3Dataset(a.dataset)
    raw, _, _ = load_chunks(ds, a.split, tok.horizon, a.stride)
    print(json.dumps({"split": a.split} | report(tok, norm, raw, norm.transform(raw)), indent=2))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="litlab-robotics", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="PointMass2D expert demos -> LeRobot v3 dataset")
    g.add_argument("--out", required=True)
    g.add_argument("--episodes", type=int, default=200, help="training episodes")
    g.add_argument("--val-episodes", type=int, default=20)
    g.add_argument("--fps", type=int, default=50, help="control rate in Hz (10-100)")
    g.add_argument("--image-size", type=int, default=64)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--noise-prob", type=float, default=0.3, help="fraction of episodes with executed noise")
    g.add_argument("--noise-std", type=float, default=0.15)
    g.set_defaults(fn=_generate)
    f = sub.add_parser("fit", help="fit a FAST tokenizer on a dataset's train split")
    f.add_argument("--dataset", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--horizon", type=int, default=None, help="chunk length (default: fps, one second)")
    f.add_argument("--stride", type=int, default=1)
    f.add_argument("--scale", type=float, default=10.0)
    f.add_argument("--vocab-size", type=int, default=1024)
    f.set_defaults(fn=_fit)
    r = sub.add_parser("report", help="tokens per chunk and reconstruction error of a fitted tokenizer")
    r.add_argument("--dataset", required=True)
    r.add_argument("--tokenizer", required=True)
    r.add_argument("--split", default="val")
    r.add_argument("--stride", type=int, default=1)
    r.set_defaults(fn=_report)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success; a user error is one line and exit code 1 (``LITLAB_DEBUG=1``: traceback),
    as with ``litlab``; argument-parsing errors exit with 2."""
    from litlab.shared.errors import report_errors

    args = build_parser().parse_args(argv)
    return report_errors(args.fn, args, prog="python -m litlab.robotics")
