"""CPU time per step of sequence-parallel lightning_attn (LASP-2, arXiv 2502.07563) on gloo against one process.

One step = forward + backward of sum(o * do) over a [B, T, H, D] sequence with learnable decay slopes, torch
path. P processes (one thread each) hold T / P tokens each and pass ``sp_group``: each computes its local
state and decay product, one all-gather combines them, each finishes its piece; backward the same way in
reverse. A rank's step time includes those collectives (barrier, then the clock, then the step; the slowest
rank's time counts), so communication is counted, not hidden. "1 (group of 1)" runs the split code with a
group of one process: its cost over the plain op is the sequence-parallel bookkeeping.

    .venv/bin/python benchmarks/attention/seqpar_cpu.py --T 4096 --sizes 1 2 4

Medians over --reps steps after --warmup. On a machine with fewer cores than P the processes share cores:
the table then shows the communication and scheduling cost rather than a speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

import torch
import torch.distributed as dist

from litlab.attention.ops import lightning_attn
from litlab.attention.ops.seqpar import spawn_gloo


def _inputs(args, rank: int, size: int):
    g = torch.Generator().manual_seed(0)
    shape = (args.B, args.T, args.H, args.D)
    q, k, v, do = (torch.randn(shape, generator=g) * 0.5 for _ in range(4))
    piece = slice(rank * args.T // size, (rank + 1) * args.T // size)
    leaves = [x[:, piece].contiguous().requires_grad_() for x in (q, k, v)]
    decay = torch.linspace(0.01, 0.5, args.H).requires_grad_()
    return leaves, decay, do[:, piece].contiguous()


def _step(leaves, decay, do, group) -> None:
    o, _ = lightning_attn(*leaves, decay=decay, backend="torch", sp_group=group)
    (o * do).sum().backward()
    for x in (*leaves, decay):
        x.grad = None


def _worker(rank: int, size: int, args, plain: bool, out: str) -> None:
    group = None if plain else dist.group.WORLD
    leaves, decay, do = _inputs(args, rank, size)
    times = []
    for i in range(args.warmup + args.reps):
        dist.barrier()
        start = time.perf_counter()
        _step(leaves, decay, do, group)
        took = torch.tensor(time.perf_counter() - start, dtype=torch.float64)
        dist.all_reduce(took, op=dist.ReduceOp.MAX)  # the step ends when its slowest rank does
        if i >= args.warmup:
            times.append(float(took))
    if rank == 0:
        with open(out, "w") as f:
            json.dump(times, f)


def _measure(args, size: int, plain: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "times.json")
        spawn_gloo(_worker, size, args, plain, out)
        with open(out) as f:
            return statistics.median(json.load(f)) * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--T", type=int, default=4096, help="global sequence length (a multiple of every size)")
    p.add_argument("--B", type=int, default=1)
    p.add_argument("--H", type=int, default=4)
    p.add_argument("--D", type=int, default=64)
    p.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4], help="process counts (1: one process)")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args()
    bad = [s for s in args.sizes if s < 1 or args.T % s]
    if bad:
        raise SystemExit(f"--sizes: {bad} do not divide --T {args.T} (expected positive divisors)")
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"B={args.B} T={args.T} H={args.H} D={args.D} fp32, fwd+bwd, 1 thread per process")  # fmt: skip
    base = _measure(args, 1, plain=True)
    rows = [("1 (plain op)", base)]
    for size in args.sizes:
        rows.append((f"{size} (group of {size})", _measure(args, size, plain=False)))
    print(f"{'processes':<22}{'ms / step (median)':>20}{'x one process':>16}")
    for name, ms in rows:
        print(f"{name:<22}{ms:>20.2f}{ms / base:>16.2f}")


if __name__ == "__main__":
    main()
