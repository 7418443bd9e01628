"""Experiment 1: FAST compression in the form of the paper's Table I (arXiv 2501.09747), plus scale and
vocabulary sensitivity. One-second chunks; tokens per chunk for naive 256-bin tokens (H*D) vs FAST
(scale 10, vocab 1024, fitted on the train split), reconstruction MAE in normalized units on held-out
chunks.

    nice python benchmarks/robotics/robotics_compression.py [--append benchmarks/robotics/HISTORY.md] \
        [--plot packages/robotics/docs/compression.png]
"""

from __future__ import annotations

import argparse
import datetime

import numpy as np
import torch
from robotics_chunk_sources import pointmass_chunks, spline_split

from litlab.robotics.tokenizers import BinningTokenizer, FASTTokenizer


def measure(train, test, scale=10.0, vocab=1024) -> dict:
    tok = FASTTokenizer(scale=scale, vocab_size=vocab).fit(train)
    ids = tok.encode(test)
    res = tok.decode_with_info(ids, mode="strict")
    lens = np.array([len(i) for i in ids])
    n, h, d = test.shape
    b = BinningTokenizer(256)
    bin_rec = b.decode(b.encode(test), h, d).double().numpy()
    return {
        "naive": h * d,
        "mean": lens.mean(),
        "p99": np.percentile(lens, 99),
        "mae": np.abs(res.actions.numpy() - test).mean(),
        "bin_mae": np.abs(bin_rec - test).mean(),
        "fail": res.n_failures,
        "clamped": tok.stats["clamped"],
        "n_train": len(train),
        "n_test": n,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--append", default=None, help="append the tables to this markdown file")
    ap.add_argument("--plot", default=None)
    ap.add_argument("--episodes", type=int, default=300)
    args = ap.parse_args()
    torch.set_num_threads(1)
    sources = {}
    for hz in (10, 25, 50, 100):
        sources[f"PointMass2D {hz} Hz"] = (2, hz, pointmass_chunks(hz, args.episodes))
    for name, d, hz in (
        ("splines (Bridge-like)", 7, 5),
        ("splines (DROID-like)", 7, 15),
        ("splines (bussing-like)", 7, 20),
        ("splines (T-shirt-like)", 14, 50),
    ):
        sources[f"{name} {hz} Hz"] = (d, hz, spline_split(hz, d))
    lines = [
        "| Dataset | D | Rate | Naive tokens | FAST tokens mean (p99) | Ratio | FAST MAE | binning MAE "
        "| train/test chunks |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    table = {}
    for name, (d, hz, (train, test)) in sources.items():
        m = measure(train, test)
        table[name] = (hz, d, m)
        lines.append(
            f"| {name} | {d} | {hz} Hz | {m['naive']} | {m['mean']:.1f} ({m['p99']:.0f}) | "
            f"{m['naive'] / m['mean']:.1f}x | {m['mae']:.4f} | {m['bin_mae']:.4f} | "
            f"{m['n_train']}/{m['n_test']} |"
        )
        print(lines[-1], flush=True)
    sens = ["", "| Data (H x D) | Scale | Vocab | FAST tokens mean (p99) | MAE |", "|---|---:|---:|---:|---:|"]
    spl = spline_split(50, 7)
    pm50 = sources["PointMass2D 50 Hz"][2]
    for label, (train, test) in (("splines 50x7", spl), ("PointMass2D 50x2", pm50)):
        for scale, vocab in ((5, 1024), (10, 1024), (20, 1024), (10, 512), (10, 2048)):
            m = measure(train, test, scale, vocab)
            sens.append(f"| {label} | {scale:g} | {vocab} | {m['mean']:.1f} ({m['p99']:.0f}) | {m['mae']:.4f} |")
            print(sens[-1], flush=True)
    uni = [
        "",
        "| Dataset | per-dataset FAST (vocab 1024) | universal FAST+ (vocab 2048), padded to 32 dims "
        "| universal, unpadded | universal MAE |",
        "|---|---:|---:|---:|---:|",
    ]
    universal = FASTTokenizer(scale=10, vocab_size=2048).fit_universal([tr for _, _, (tr, _) in sources.values()])
    for name, (d, _hz, (_train, test)) in sources.items():
        h = test.shape[1]
        padded = universal.encode(test, pad_to=32)
        plain = universal.encode(test)
        rec = universal.decode(padded, horizon=h, action_dim=d, pad_to=32).numpy()
        uni.append(
            f"| {name} | {table[name][2]['mean']:.1f} | {np.mean([len(i) for i in padded]):.1f} | "
            f"{np.mean([len(i) for i in plain]):.1f} | {np.abs(rec - test).mean():.4f} |"
        )
        print(uni[-1], flush=True)
    header = (
        f"One-second chunks, held-out test chunks, {datetime.date.today()}, CPU, torch {torch.__version__}. "
        "Splines: cubic through 4 equispaced knots per dim, values uniform in [-0.8, 0.8] (stand-ins for the "
        "paper's datasets, same D and rate)."
    )
    text = "\n".join([header, ""] + lines + sens + uni)
    if args.append:
        with open(args.append, "a") as f:
            f.write("\n### FAST compression (experiment 1)\n\n" + text + "\n")
    if args.plot:
        plot(table, args.plot)


def plot(table, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table)
    naive = [table[n][2]["naive"] for n in names]
    fast = [table[n][2]["mean"] for n in names]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 3.4), dpi=90)
    ax.bar(x - 0.2, naive, 0.4, label="naive binning (H*D)")
    ax.bar(x + 0.2, fast, 0.4, label="FAST (scale 10, vocab 1024)")
    ax.set_yscale("log")
    ax.set_xticks(x, [n.replace("D ", "D\n").replace(" (", "\n(").replace(") ", ")\n") for n in names], fontsize=6)
    ax.set_ylabel("tokens per 1 s chunk")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
