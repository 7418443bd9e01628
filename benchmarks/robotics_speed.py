"""Experiment 4: FAST encode/decode throughput, batched (litlab) vs the reference chunk-by-chunk loop.

Both tokenizers are fitted on the same 3,000 training chunks (50x7 cubic splines, scale 10, vocab 1024)
and run on the same held-out chunks in one process, one thread (torch, numba and the Rust BPE), with
the repetitions interleaved; we report medians of process CPU time (robust to other jobs on a shared
machine) and of wall time.

    nice python benchmarks/robotics_speed.py [--chunks 5000] [--reps 7] [--append BENCHMARKS.md]
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from litlab.robotics.data.synthetic import spline_chunks  # noqa: E402
from litlab.robotics.tokenizers import FASTTokenizer  # noqa: E402
from litlab.robotics.tokenizers.reference import ReferenceFASTTokenizer  # noqa: E402


def timed(fn, *args):
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.process_time() - c, time.perf_counter() - w


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=5000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--horizon", type=int, default=50)
    ap.add_argument("--dim", type=int, default=7)
    ap.add_argument("--append", default=None, help="append a results table to this markdown file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    h, d = args.horizon, args.dim
    train = spline_chunks(3000, h, d, seed=0)
    test = spline_chunks(args.chunks, h, d, seed=1)
    ours = FASTTokenizer(scale=10, vocab_size=1024).fit(train)
    ref = ReferenceFASTTokenizer(scale=10, vocab_size=1024).fit(train)
    ours.decode(ours.encode(test[:10]))  # compile the numba kernels outside the timing
    test_t = torch.from_numpy(test)
    runs = {k: [] for k in ("ref_enc", "ref_dec", "our_enc", "our_dec")}
    for _ in range(args.reps):
        ref_ids, *t = timed(ref.encode, test)
        runs["ref_enc"].append(t)
        runs["ref_dec"].append(timed(ref.decode, ref_ids, h, d)[1:])
        ids, *t = timed(ours.encode, test_t)
        runs["our_enc"].append(t)
        runs["our_dec"].append(timed(ours.decode, ids)[1:])
    lens = np.array([len(i) for i in ids])
    rate = {
        k: (args.chunks / statistics.median(c for c, _ in v), args.chunks / statistics.median(w for _, w in v))
        for k, v in runs.items()
    }
    rt = lambda e, dd, i: 1.0 / (1.0 / rate[e][i] + 1.0 / rate[dd][i])  # noqa: E731
    rows = [
        (
            "reference loop (scipy + byte-level BPE)",
            rate["ref_enc"],
            rate["ref_dec"],
            (rt("ref_enc", "ref_dec", 0), rt("ref_enc", "ref_dec", 1)),
        ),
        (
            "litlab FASTTokenizer, lists in/out",
            rate["our_enc"],
            rate["our_dec"],
            (rt("our_enc", "our_dec", 0), rt("our_enc", "our_dec", 1)),
        ),
    ]
    base = rows[0][3][0]
    lines = [
        f"FAST speed, CPU 1 thread, {args.chunks} held-out {h}x{d} chunks, medians of {args.reps} "
        f"(chunks/s by CPU time; wall time in brackets)",
        "",
        "| implementation | encode | decode | encode+decode | vs reference |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, e, dd, r in rows:
        lines.append(
            f"| {name} | {e[0]:,.0f} ({e[1]:,.0f}) | {dd[0]:,.0f} ({dd[1]:,.0f}) | "
            f"{r[0]:,.0f} ({r[1]:,.0f}) | {r[0] / base:.1f}x |"
        )
    ref_tok = np.mean([len(i) for i in ref_ids])
    lines += [
        "",
        f"tokens/chunk: reference {ref_tok:.1f}, litlab {lens.mean():.1f}; "
        f"{datetime.date.today()}, {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"numpy {np.__version__}",
    ]
    print("\n".join(lines))
    if args.append:
        with open(args.append, "a") as f:
            f.write("\n### FAST speed (experiment 4)\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
