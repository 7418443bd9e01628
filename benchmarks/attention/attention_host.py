"""Is the litlab forward's timing bound by the host? For the benchmark's shapes (64k tokens, H = 16, D = 128, bf16,
ALiBi slopes) this prints the host time of one `lightning_attn` call (enqueue only, the GPU kept busy), and the
forward's median ms from triton.testing.do_bench (eager launches, as attention_kernels.py times it) beside
do_bench_cudagraph (the same call replayed from a CUDA graph: no host work between launches), several times each.

    python benchmarks/attention/attention_host.py --ts 1024,4096,32768 --repeats 5
"""

import argparse
import cProfile
import pstats
import statistics
import time

import torch
from triton.testing import do_bench, do_bench_cudagraph

from litlab.attention.ops import lightning_attn
from litlab.attention.ops.slopes import slopes

H, D, TOKENS = 16, 128, 65536


def host_us(fn, calls=200):
    """Microseconds of host time per call while the GPU runs behind (a long kernel queued first)."""
    fn()
    torch.cuda.synchronize()
    busy = torch.empty(8192, 8192, device="cuda")
    for _ in range(20):  # ~tens of ms of GPU work so the calls below only enqueue
        busy = busy @ busy * 0.0
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    t1 = time.perf_counter()
    torch.cuda.synchronize()
    return (t1 - t0) / calls * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ts", default="1024,4096,32768")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rep", type=int, default=200, help="do_bench repetition time, ms")
    ap.add_argument("--profile", type=int, default=0, help="T whose host calls cProfile lists (0: none)")
    args = ap.parse_args()
    s = slopes(H, kind="alibi").cuda()
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}; H={H} D={D} bf16, {TOKENS} tokens per call")
    print("| T | B | host us per call | do_bench ms (runs) | median | do_bench_cudagraph ms (runs) | median |")
    print("|---|---|---|---|---|---|---|")
    for t in map(int, args.ts.split(",")):
        b = TOKENS // t
        g = torch.Generator(device="cuda").manual_seed(0)
        q, k, v = (torch.randn(b, t, H, D, device="cuda", generator=g, dtype=torch.bfloat16) * 0.1 for _ in range(3))

        def fn(q=q, k=k, v=v):
            return lightning_attn(q, k, v, s, scale=1.0)[0]

        with torch.no_grad():
            host = host_us(fn)
            eager = [do_bench(fn, return_mode="median", warmup=50, rep=args.rep) for _ in range(args.repeats)]
            try:
                graph = [do_bench_cudagraph(fn, rep=args.rep, return_mode="median") for _ in range(args.repeats)]
            except Exception as err:  # a capture failure is reported, not hidden
                print(f"# cudagraph failed at T={t}: {type(err).__name__}: {str(err)[:200]}")
                graph = []
        fmt = lambda xs: " ".join(f"{x:.3f}" for x in xs)  # noqa: E731
        med = lambda xs: f"{statistics.median(xs):.3f}" if xs else "-"  # noqa: E731
        print(f"| {t} | {b} | {host:.0f} | {fmt(eager)} | {med(eager)} | {fmt(graph)} | {med(graph)} |", flush=True)
        if t == args.profile:
            with torch.no_grad():
                prof = cProfile.Profile()
                prof.runcall(host_us, fn)
            pstats.Stats(prof).sort_stats("tottime").print_stats(18)


if __name__ == "__main__":
    main()
