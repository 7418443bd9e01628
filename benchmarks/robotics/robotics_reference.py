"""Experiment 3: litlab FAST vs the reference algorithm (byte-level BPE, lower clamp only), fitted on the
same training chunks and run on the same held-out chunks: tokens per chunk, ground-truth round-trip
failures (strict decode), behaviour on out-of-range input and on corrupted token sequences.

    nice python benchmarks/robotics/robotics_reference.py [--append benchmarks/robotics/HISTORY.md]
"""

from __future__ import annotations

import argparse
import datetime
import logging

import numpy as np
import torch
from robotics_chunk_sources import pointmass_chunks, spline_split

from litlab.robotics.tokenizers import FASTTokenizer
from litlab.robotics.tokenizers.reference import ReferenceFASTTokenizer

logging.getLogger("litlab").setLevel(logging.ERROR)


def corrupt(ids, vocab, rng, kind):
    out = []
    for seq in ids:
        seq = list(seq)
        if kind == "replace one token":
            seq[rng.integers(len(seq))] = int(rng.integers(vocab))
        elif kind == "drop last token":
            seq = seq[:-1]
        out.append(seq)
    return out


def compare(train, test, rng) -> list[tuple]:
    n, h, d = test.shape
    ours = FASTTokenizer(scale=10, vocab_size=1024).fit(train)
    ref = ReferenceFASTTokenizer(scale=10, vocab_size=1024).fit(train)
    rows = []
    outlier = test * 1.5  # actions beyond the normalized range (e.g. stale statistics), not clipped
    for label, x in (("held-out", test), ("held-out x1.5 (out of range)", outlier)):
        before = ours.stats["clamped"]
        ref_ids, our_ids = ref.encode(x), ours.encode(x)
        ref_out = ref.decode(ref_ids, h, d)
        ref_fail = len(ref.last_failed)
        res = ours.decode_with_info(our_ids, mode="strict")
        ok = ~res.failed.numpy()
        ref_ok = np.setdiff1d(np.arange(n), ref.last_failed)
        rows.append(
            (
                label,
                np.mean([len(i) for i in ref_ids]),
                np.mean([len(i) for i in our_ids]),
                ref_fail / n,
                res.n_failures / n,
                np.abs(ref_out[ref_ok] - x[ref_ok]).mean() if len(ref_ok) else float("nan"),
                np.abs(res.actions.numpy()[ok] - x[ok]).mean(),
                ours.stats["clamped"] - before,
            )
        )
    for kind in ("replace one token", "drop last token"):
        ref_ids = corrupt(ref.encode(test), ref.bpe.get_vocab_size(), rng, kind)
        our_ids = corrupt(ours.encode(test), ours.bpe.vocab_size, rng, kind)
        ref.decode(ref_ids, h, d)
        strict = ours.decode_with_info(our_ids, mode="strict")
        relaxed = ours.decode_with_info(our_ids, mode="relaxed")
        rows.append(
            (
                f"{kind} (relaxed: {relaxed.n_repairs / n:.0%} repaired, {relaxed.n_failures / n:.0%} failed)",
                float("nan"),
                float("nan"),
                len(ref.last_failed) / n,
                strict.n_failures / n,
                float("nan"),
                float("nan"),
                0,
            )
        )
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--append", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    spl_train, spl_test = spline_split(50, 7, n_train=3000, n_test=1000)
    pm_train, pm_test = pointmass_chunks(50, episodes=600, val_episodes=100)
    lines = [
        "| Data | train chunks | test | reference tokens | litlab tokens | reference strict failures | "
        "litlab strict failures | reference MAE (decoded) | litlab MAE | litlab clamped coeffs |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, train, test in (("splines 50x7", spl_train, spl_test), ("PointMass2D 50 Hz (50x2)", pm_train, pm_test)):
        for n_train in (300, len(train)):
            for r in compare(train[:n_train], test, rng):
                fmt = lambda v: "" if v != v else f"{v:.1f}"  # noqa: E731
                mae = lambda v: "" if v != v else f"{v:.4f}"  # noqa: E731
                lines.append(
                    f"| {name} | {n_train} | {r[0]} | {fmt(r[1])} | {fmt(r[2])} | {r[3]:.1%} | "
                    f"{r[4]:.1%} | {mae(r[5])} | {mae(r[6])} | {r[7]} |"
                )
                print(lines[-1], flush=True)
    header = (
        f"Scale 10, vocab 1024, strict decoding of ground-truth token sequences unless noted; "
        f"{len(spl_test)} spline / {len(pm_test)} PointMass2D held-out chunks; {datetime.date.today()}, "
        f"torch {torch.__version__}."
    )
    if args.append:
        with open(args.append, "a") as f:
            f.write(
                "\n### FAST vs the reference algorithm (experiment 3)\n\n" + header + "\n\n" + "\n".join(lines) + "\n"
            )


if __name__ == "__main__":
    main()
