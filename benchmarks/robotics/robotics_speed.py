"""Experiment 4: FAST encode/decode throughput, batched (litlab) vs the reference chunk-by-chunk loop.

Both tokenizers are fitted on the same 3,000 training chunks (50x7 cubic splines, scale 10, vocab 1024)
and run on the same held-out chunks in one process, one thread (torch, numba and the Rust BPE), with
the repetitions interleaved; we report medians of process CPU time (robust to other jobs on a shared
machine) and of wall time. ``--devices cpu cuda`` adds litlab with the chunks on the GPU (input tensor
and decoded output on the device: DCT/IDCT there, the BPE merge loop on one CPU core), timed by wall
clock with the device synchronized.

    nice python benchmarks/robotics/robotics_speed.py [--chunks 5000] [--reps 7] [--devices cpu cuda] [--append FILE]
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


def timed(fn, *args, sync: str = "cpu", **kw):
    """(output, process CPU seconds, wall seconds) of ``fn(*args, **kw)``, the device synchronized."""
    wait = torch.cuda.synchronize if sync.startswith("cuda") else (lambda: None)
    wait()
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    wait()
    return out, time.process_time() - c, time.perf_counter() - w


def measure(args, ours, ref, test) -> tuple[dict, dict]:
    """Interleaved repetitions; returns medians {key: (chunks/s by CPU time, by wall time)} and lengths."""
    h, d = args.horizon, args.dim
    inputs = {dev: torch.from_numpy(test).to(dev) for dev in args.devices}
    for x in inputs.values():  # compile the numba kernels and warm the device outside the timing
        ours.decode(ours.encode(x[:10]), device=x.device)
    runs, lens = {}, {}
    for _ in range(args.reps):
        ref_ids, *t = timed(ref.encode, test)
        runs.setdefault("ref_enc", []).append(t)
        runs.setdefault("ref_dec", []).append(timed(ref.decode, ref_ids, h, d)[1:])
        for dev, x in inputs.items():
            ids, *t = timed(ours.encode, x, sync=dev)
            runs.setdefault(f"{dev}_enc", []).append(t)
            runs.setdefault(f"{dev}_dec", []).append(timed(ours.decode, ids, sync=dev, device=dev)[1:])
            lens[dev] = np.mean([len(i) for i in ids])
    lens["ref"] = np.mean([len(i) for i in ref_ids])
    n = args.chunks
    rate = {
        k: (n / statistics.median(c for c, _ in v), n / statistics.median(w for _, w in v)) for k, v in runs.items()
    }
    return rate, lens


def table(args, rate, lens) -> list[str]:
    both = lambda p, i: 1.0 / (1.0 / rate[f"{p}_enc"][i] + 1.0 / rate[f"{p}_dec"][i])  # noqa: E731
    names = {"ref": "reference loop (scipy + byte-level BPE)", "cpu": "litlab FASTTokenizer, lists in/out"}
    names["cuda"] = "litlab FASTTokenizer, lists in/out, chunks on the GPU"
    base = both("ref", 0), both("ref", 1)
    lines = [
        f"FAST speed, {args.chunks} held-out {args.horizon}x{args.dim} chunks, medians of {args.reps}, one CPU "
        "thread (chunks/s by CPU time; wall time in brackets; the GPU row by wall time only)",
        "",
        "| implementation | encode | decode | encode+decode | vs reference (CPU time / wall) |",
        "|---|---:|---:|---:|---:|",
    ]
    for p in ["ref", *args.devices]:
        e, dd, r = rate[f"{p}_enc"], rate[f"{p}_dec"], (both(p, 0), both(p, 1))
        if p.startswith("cuda"):
            lines.append(
                f"| {names['cuda']} | ({e[1]:,.0f}) | ({dd[1]:,.0f}) | ({r[1]:,.0f}) | - / {r[1] / base[1]:.1f}x |"
            )
        else:
            lines.append(
                f"| {names[p]} | {e[0]:,.0f} ({e[1]:,.0f}) | {dd[0]:,.0f} ({dd[1]:,.0f}) | {r[0]:,.0f} ({r[1]:,.0f}) "
                f"| {r[0] / base[0]:.1f}x / {r[1] / base[1]:.1f}x |"
            )
    gpu = f", {torch.cuda.get_device_name()}" if any(d.startswith("cuda") for d in args.devices) else ""
    lines += [
        "",
        f"tokens/chunk: reference {lens['ref']:.1f}, litlab {lens['cpu' if 'cpu' in lens else args.devices[0]]:.1f}; "
        f"{datetime.date.today()}, {platform.processor() or platform.machine()}{gpu}, torch {torch.__version__}, "
        f"numpy {np.__version__}",
    ]
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=5000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--horizon", type=int, default=50)
    ap.add_argument("--dim", type=int, default=7)
    ap.add_argument("--devices", nargs="+", default=["cpu"], help="litlab rows: cpu and/or cuda")
    ap.add_argument("--append", default=None, help="append a results table to this markdown file")
    args = ap.parse_args()
    bad = [d for d in args.devices if d not in ("cpu", "cuda")]
    if bad or ("cuda" in args.devices and not torch.cuda.is_available()):
        raise SystemExit(f"--devices: got {args.devices}; expected cpu and/or cuda (cuda needs a GPU)")
    torch.set_num_threads(1)
    train = spline_chunks(3000, args.horizon, args.dim, seed=0)
    test = spline_chunks(args.chunks, args.horizon, args.dim, seed=1)
    ours = FASTTokenizer(scale=10, vocab_size=1024).fit(train)
    ref = ReferenceFASTTokenizer(scale=10, vocab_size=1024).fit(train)
    lines = table(args, *measure(args, ours, ref, test))
    print("\n".join(lines))
    if args.append:
        with open(args.append, "a") as f:
            f.write("\n### FAST speed (experiment 4)\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
