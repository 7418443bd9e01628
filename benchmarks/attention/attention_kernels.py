"""Lightning Attention-2 kernels side by side on one GPU (arXiv 2401.04658).

Providers, timed in one run with triton.testing.do_bench medians (forward, and forward+backward of a fixed
dO): litlab ``lightning_attn`` (Triton), fla-core ``chunk_simple_gla`` (g_gamma = -s, same scale),
OpenNLPLab ``lightning_attn_func`` (scale folded into q; [B, H, T, D] layout) and torch SDPA causal (softmax:
shown for scale, not the same function). Shapes: 64k tokens per call, H=16, bf16, ALiBi slopes; decode as
GB/s of fp32 state traffic. Prints a markdown table and writes it (and JSON) to --out. ``litlab-old`` is an
earlier copy of ``litlab.attention.ops`` importable as the module named by $LITLAB_OLD_OPS (a baseline rerun in
the same call); ``--decay-grad-ts`` times forward+backward with a learnable decay (litlab versions only: fla's
``g_gamma`` gets no gradient).

    python benchmarks/attention/attention_kernels.py --out results   # then paste results/attention_kernels.md
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import statistics

import torch
import torch.nn.functional as F
import triton
from triton.testing import do_bench

from litlab.attention.ops import lightning_attn, lightning_attn_step, slopes

HBM = 4.3e12  # measured H200 copy bandwidth, bytes/s
TOKENS = 65536
H = 16
WARMUP, REP = 50, 200  # do_bench milliseconds (--rep changes REP)


def _optional(name):
    try:
        if name == "fla":
            from fla.ops.simple_gla import chunk_simple_gla, fused_recurrent_simple_gla

            return chunk_simple_gla, fused_recurrent_simple_gla
        from lightning_attn.ops import lightning_attn_func

        return lightning_attn_func
    except ImportError as err:
        print(f"# {name} not available: {err}")
        return None


FLA, LA2 = _optional("fla"), _optional("lightning_attn")
OLD = importlib.import_module(os.environ["LITLAB_OLD_OPS"] + ".api") if os.environ.get("LITLAB_OLD_OPS") else None


def make_providers(b, t, d, s, skip_sdpa, only=None):
    """name -> (forward closure, leaves) with inputs already in each provider's layout."""
    g = torch.Generator(device="cuda").manual_seed(0)
    base = [torch.randn(b, t, H, d, device="cuda", generator=g, dtype=torch.bfloat16) * 0.1 for _ in range(3)]
    out = {}

    def leaves(layout_bhtd):
        xs = [x.transpose(1, 2).contiguous() if layout_bhtd else x.clone() for x in base]
        return [x.requires_grad_() for x in xs]

    q, k, v = leaves(False)
    out["litlab"] = (lambda q=q, k=k, v=v: lightning_attn(q, k, v, s, scale=1.0)[0], [q, k, v])
    if OLD is not None:
        q, k, v = leaves(False)
        out["litlab-old"] = (lambda q=q, k=k, v=v: OLD.lightning_attn(q, k, v, s, scale=1.0)[0], [q, k, v])
    if FLA is not None:
        q, k, v = leaves(False)
        out["fla"] = (lambda q=q, k=k, v=v: FLA[0](q, k, v, g_gamma=-s, scale=1.0)[0], [q, k, v])
    if LA2 is not None and d <= 128:
        q, k, v = leaves(True)
        out["lightning-attn"] = (lambda q=q, k=k, v=v: LA2(q, k, v, s.view(H, 1, 1)), [q, k, v])
    if not skip_sdpa:
        q, k, v = leaves(True)
        out["sdpa"] = (lambda q=q, k=k, v=v: F.scaled_dot_product_attention(q, k, v, is_causal=True), [q, k, v])
    return {n: p for n, p in out.items() if only is None or n in only}


def time_provider(fn, xs):
    """(fwd ms, fwd+bwd ms, peak GiB of one fwd+bwd), medians of do_bench."""
    with torch.no_grad():
        fwd = do_bench(fn, return_mode="median", warmup=WARMUP, rep=REP)
    do = torch.randn_like(fn())

    def fb():
        fn().backward(do)

    fb()  # compile/tune before timing
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    fb()
    peak = torch.cuda.max_memory_allocated() / 2**30
    both = do_bench(fb, return_mode="median", warmup=WARMUP, rep=REP, grad_to_none=xs)
    return fwd, both, peak


def bench_decay_grad(ts, d=128) -> str:
    """Forward+backward ms with a learnable decay (the slope gradient included), litlab and litlab-old."""
    lines = ["| T | B | litlab f+b, learnable decay | litlab-old | litlab / old |", "|---|---|---|---|---|"]
    for t in ts:
        b = TOKENS // t
        g = torch.Generator(device="cuda").manual_seed(0)
        base = [torch.randn(b, t, H, d, device="cuda", generator=g, dtype=torch.bfloat16) * 0.1 for _ in range(3)]
        do = torch.randn_like(base[2])
        res = {}
        for name, op in (("litlab", lightning_attn), ("litlab-old", None if OLD is None else OLD.lightning_attn)):
            if op is None:
                continue
            xs = [x.clone().requires_grad_() for x in base] + [slopes(H, kind="alibi").cuda().requires_grad_()]

            def fb(op=op, xs=xs, do=do):
                op(*xs[:3], xs[3], scale=1.0)[0].backward(do)

            fb()
            res[name] = do_bench(fb, warmup=WARMUP, rep=REP, grad_to_none=xs)
        ratio = f"{res['litlab'] / res['litlab-old']:.3f}" if len(res) == 2 else "-"
        lines.append(f"| {t} | {b} | {res['litlab']:.3f} | {res.get('litlab-old', float('nan')):.3f} | {ratio} |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def floors(b, t, d, c=64):
    """(fwd floor ms, f+b floor ms, fwd FLOP, f+b FLOP) of lightning attention (64k tokens: 0.250 / 0.687 ms on
    the H200's measured 4.3 TB/s)."""
    n = b * t * H
    fwd_bytes, bwd_bytes = n * 2 * (4 * d), n * 2 * (7 * d)
    fwd_flop, bwd_flop = n * (4 * c * d + 4 * d * d), n * (10 * c * d + 10 * d * d)
    return fwd_bytes / HBM * 1e3, (fwd_bytes + bwd_bytes) / HBM * 1e3, fwd_flop, fwd_flop + bwd_flop


def bench_shape(b, t, d, rows, skip_sdpa=False, only=None, rounds=1):
    """Time every provider at one shape; with rounds > 1 the providers take turns (litlab, fla, ..., litlab, fla,
    ...) so a drift of the GPU's clocks reaches all of them, and each figure is the median over the rounds (the
    per-round values go to the JSON, the per-round litlab/fla ratios to the output)."""
    s = slopes(H, kind="alibi").cuda()
    ff, fbf, fflop, fbflop = floors(b, t, d)
    runs = {}
    providers = make_providers(b, t, d, s, skip_sdpa, only)
    for _ in range(rounds):
        for name, (fn, xs) in providers.items():
            if runs.get(name, []) is None:  # failed in an earlier round
                continue
            try:
                runs.setdefault(name, []).append(time_provider(fn, xs))
            except Exception as err:  # a provider failing at one shape (e.g. shared memory) is reported
                print(f"# {name} failed at B={b} T={t} D={d}: {type(err).__name__}: {str(err)[:200]}")
                runs[name] = None
            torch.cuda.empty_cache()
    runs = {name: r for name, r in runs.items() if r}
    res = {name: tuple(statistics.median(x[i] for x in r) for i in range(3)) for name, r in runs.items()}
    row = {"B": b, "T": t, "D": d, "floor_fwd": ff, "floor_fb": fbf, **{k: v for k, v in res.items()}}
    if rounds > 1:
        row["rounds"] = runs
        if "litlab" in runs and "fla" in runs:
            per = [(a[0] / f[0], a[1] / f[1]) for a, f in zip(runs["litlab"], runs["fla"])]
            print(
                f"# T={t} D={d} litlab/fla per round, fwd: {' '.join(f'{x[0]:.2f}' for x in per)}; f+b: "
                + " ".join(f"{x[1]:.2f}" for x in per),
                flush=True,
            )
    lit = res.get("litlab")
    if lit:
        row["tflops_fwd"], row["tflops_fb"] = fflop / lit[0] / 1e9, fbflop / lit[1] / 1e9
    rows.append(row)
    print(fmt_row(row), flush=True)


def _ms(row, name, i):
    return f"{row[name][i]:.3f}" if name in row else "-"


def _ratio(row, name, i):
    return f"{row['litlab'][i] / row[name][i]:.2f}" if "litlab" in row and name in row else "-"


HEAD = (
    "| D | T | B | litlab fwd | fla fwd | LA2 fwd | SDPA fwd | litlab f+b | fla f+b | LA2 f+b | SDPA f+b "
    "| litlab/fla fwd | litlab/fla f+b | litlab/SDPA f+b | litlab TFLOP/s fwd, f+b | % floor fwd, f+b "
    "| peak GiB litlab, fla | litlab-old fwd, f+b |\n|" + "---|" * 18
)


def fmt_row(r):
    lit = r.get("litlab")
    pct = f"{100 * r['floor_fwd'] / lit[0]:.0f}, {100 * r['floor_fb'] / lit[1]:.0f}" if lit else "-"
    tf = f"{r['tflops_fwd']:.0f}, {r['tflops_fb']:.0f}" if lit else "-"
    peak = ", ".join(f"{r[n][2]:.1f}" if n in r else "-" for n in ("litlab", "fla"))
    cells = [r["D"], r["T"], r["B"]] + [_ms(r, n, 0) for n in ("litlab", "fla", "lightning-attn", "sdpa")]
    cells += [_ms(r, n, 1) for n in ("litlab", "fla", "lightning-attn", "sdpa")]
    cells += [_ratio(r, "fla", 0), _ratio(r, "fla", 1), _ratio(r, "sdpa", 1), tf, pct, peak]
    cells += [f"{_ms(r, 'litlab-old', 0)}, {_ms(r, 'litlab-old', 1)}"]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def bench_decode(b=256, d=128):
    """Decode step: ms and GB/s of fp32 state traffic (read + write 8*D*E bytes per head)."""
    s = slopes(H, kind="alibi").cuda()
    q, k, v = (torch.randn(b, H, d, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    state = torch.randn(b, H, d, d, device="cuda", dtype=torch.float32)
    out = {
        "litlab": do_bench(
            lambda: lightning_attn_step(q, k, v, state, s, scale=1.0), return_mode="median", warmup=WARMUP, rep=REP
        )
    }
    if FLA is not None:
        fr = FLA[1]
        out["fla"] = do_bench(
            lambda: fr(
                q[:, None], k[:, None], v[:, None], g_gamma=-s, scale=1.0, initial_state=state, output_final_state=True
            ),
            warmup=50,
            return_mode="median",
            rep=200,
        )
    gb = 8 * b * H * d * d / 1e9
    row = "| decode B={b} H={H} D=E={d} | {name} | {ms:.3f} ms | {bw:.0f} GB/s |"
    lines = [row.format(b=b, H=H, d=d, name=name, ms=ms, bw=gb / ms * 1e3) for name, ms in out.items()]
    return "| decode | provider | median | state GB/s |\n|---|---|---|---|\n" + "\n".join(lines)


def accuracy(t=1024, d=128):
    """rel. Frobenius error of the bf16 outputs vs float64 naive on the same rounded inputs (B=2)."""
    s = slopes(H, kind="alibi").cuda()
    q, k, v = (torch.randn(2, t, H, d, device="cuda").to(torch.bfloat16) * 0.1 for _ in range(3))
    ref, _ = lightning_attn(q.double(), k.double(), v.double(), s.double(), scale=1.0, backend="naive")
    errs = {"litlab": lightning_attn(q, k, v, s, scale=1.0)[0]}
    if FLA is not None:
        errs["fla"] = FLA[0](q, k, v, g_gamma=-s, scale=1.0)[0]
    return {n: float((o.double() - ref).norm() / ref.norm()) for n, o in errs.items()}


def header():
    vers = [f"torch {torch.__version__}", f"triton {triton.__version__}"]
    for mod in ("fla", "lightning_attn"):
        try:
            from importlib.metadata import version

            vers.append(f"{mod} {version('fla-core' if mod == 'fla' else 'lightning-attn')}")
        except Exception:
            pass
    return (
        f"{datetime.date.today()} on {torch.cuda.get_device_name()}, {', '.join(vers)}; bf16, H={H}, "
        "ALiBi slopes, scale 1, median ms of triton.testing.do_bench "
        f"(warm-up {WARMUP} ms, rep {REP} ms)"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results", help="folder for attention_kernels.md / .json")
    ap.add_argument("--ts", default="1024,2048,4096,8192,16384,32768,65536", help="sequence lengths (D=128)")
    ap.add_argument("--extra", default="64:1024,64:65536,256:1024,256:65536", help="D:T pairs")
    ap.add_argument("--long", type=int, default=262144, help="T of the B=1 long run (0: skip)")
    ap.add_argument("--providers", default="litlab,litlab-old,fla,lightning-attn,sdpa", help="comma-separated subset")
    ap.add_argument("--decay-grad-ts", default="", help="T values of the learnable-decay f+b timing (empty: skip)")
    ap.add_argument("--rep", type=int, default=200, help="do_bench repetition time, ms")
    ap.add_argument("--rounds", type=int, default=1, help="providers take turns this many times per shape (medians)")
    args = ap.parse_args()
    global REP
    REP = args.rep
    only = tuple(args.providers.split(","))
    os.makedirs(args.out, exist_ok=True)
    print(header())
    from litlab.attention.ops.triton_config import default_config

    note = f"litlab launch configuration: {default_config(torch.device('cuda'))}"
    print(note)
    print(HEAD)
    rows = []
    shapes = [(TOKENS // int(t), int(t), 128, False) for t in filter(None, args.ts.split(","))]
    for pair in filter(None, args.extra.split(",")):
        d, t = map(int, pair.split(":"))
        shapes.append((max(1, TOKENS // t), t, d, False))
    if args.long:
        shapes.append((1, args.long, 128, True))
    for b, t, d, skip_sdpa in shapes:
        bench_shape(b, t, d, rows, skip_sdpa=skip_sdpa, only=only, rounds=args.rounds)
        write(args.out, [header(), note, "", HEAD, *map(fmt_row, rows)], rows, {})  # partial results survive
    grad = bench_decay_grad([int(t) for t in filter(None, args.decay_grad_ts.split(","))])
    write(args.out, [header(), note, "", HEAD, *map(fmt_row, rows), "", grad], rows, {})
    dec, acc = bench_decode(), accuracy()
    print(dec)
    print(acc)
    acc_line = "Accuracy (B=2, T=1024, D=128, bf16 vs float64 naive): " + ", ".join(
        f"{k} {v:.2e}" for k, v in acc.items()
    )
    write(args.out, [header(), note, "", HEAD, *map(fmt_row, rows), "", grad, "", dec, "", acc_line], rows, acc)


def write(out, lines, rows, acc):
    with open(os.path.join(out, "attention_kernels.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "attention_kernels.json"), "w") as f:
        json.dump({"header": header(), "rows": rows, "accuracy": acc}, f, indent=1)


if __name__ == "__main__":
    main()
