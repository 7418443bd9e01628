"""Full grid of forward plans and launch options of litlab's Lightning Attention-2 Triton kernels at long T.

Where ``attention_sweep.py`` searches one configuration group at a time, this times every pair (segment plan x
forward launch) at each T, forward only, because at long T the two interact: the tile width sets how many
programs one segment gives, the plan how many segments there are, the warps and stages how many programs
fit on an SM. Each variant's output is compared with the first variant's (rel. error <= 2e-2, finite) on the
same inputs with every other head's slope set to 0 (``check_output``).
The best variants by the summed forward time over the long T are then timed forward+backward too, and the
winner (lowest forward sum whose forward+backward sum is within --fb-slack of the shipped one) is written to
OUT/best_config.json for the later steps of ``attention_gpu_run.sh``.

    python benchmarks/attention/attention_fwd_grid.py --out results --t 8192,16384,32768,65536
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import torch
from triton.testing import do_bench

from litlab.attention.ops import slopes
from litlab.attention.ops.chunk_triton import triton_lightning_attn
from litlab.attention.ops.testing import rel
from litlab.attention.ops.triton_config import KernelConfig, default_config

H, TOKENS = 16, 65536


def attn(q, k, v, s, cfg: KernelConfig):
    return triton_lightning_attn(q, k, v, s, 1.0, None, None, False, config=cfg)[0]


def variants():
    """(plan name, plan patch, launch name, launch patch) as ``KernelConfig.patched`` patches of the GPU's default:
    the segment plan (programs per SM of the backward, the forward's own coarser segments and their local-state
    pieces) crossed with the forward's copies and launches (the TMA forward at 3 or 2 stages, pointer loads at 4
    or 8 warps). The grids of earlier runs (options since removed) are recorded in
    benchmarks/attention/HISTORY.md runs 8-19."""
    ptr = {"tma_widths": []}
    rows = [
        ("shipped", {}, "tma-w4s3", {}),  # the first row is the reference and the shipped configuration
        ("shipped", {}, "tma-w4s2", {"fwd_tma": {"num_stages": 2}}),
        ("shipped", {}, "ptr-w4s2", ptr),
        ("shipped", {}, "ptr-w8s2", {**ptr, "fwd": {"num_warps": 8}, "fwd_seg": {"num_warps": 8}}),
        ("same-segments", {"fwd_programs_per_sm": 2}, "tma-w4s3", {}),
        ("split8", {"split_programs_per_sm": 8}, "tma-w4s3", {}),
        ("pps3", {"programs_per_sm": 3}, "tma-w4s3", {}),
        ("fill1", {"fwd_fill": 1.0}, "tma-w4s3", {}),
    ]
    return rows


def inputs(t, d=128):
    g = torch.Generator(device="cuda").manual_seed(0)
    b = TOKENS // t
    xs = [(torch.randn(b, t, H, d, device="cuda", generator=g) * 0.1).bfloat16().requires_grad_() for _ in range(3)]
    return xs, torch.randn(b, t, H, d, device="cuda", generator=g).bfloat16(), slopes(H, kind="alibi").cuda()


def check_output(xs, s, cfg):
    """The forward with every other head's slope set to 0: the timed ALiBi slopes decay by e^-32 or more over a
    segment of 8k tokens, which leaves no trace of a wrong entering state in bf16; a head without decay does."""
    q, k, v = xs
    s = s.clone()
    s[::2] = 0.0
    with torch.no_grad():
        return attn(q, k, v, s, cfg)


def fwd_ms(xs, s, rep, cfg):
    q, k, v = xs
    with torch.no_grad():
        o = attn(q, k, v, s, cfg)
        return o, do_bench(lambda: attn(q, k, v, s, cfg), return_mode="median", warmup=10, rep=rep)


def fb_ms(xs, do, s, rep, cfg):
    q, k, v = xs
    return do_bench(
        lambda: torch.autograd.grad(attn(q, k, v, s, cfg), xs, do),
        return_mode="median",
        warmup=10,
        rep=rep,
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t", default="8192,16384,32768,65536", help="T values (the first is the unsegmented reference)")
    ap.add_argument("--score-ts", default="16384,32768,65536", help="T values whose forward times are summed")
    ap.add_argument("--rep", type=int, default=40, help="do_bench rep (ms) per forward timing")
    ap.add_argument("--top", type=int, default=4, help="variants timed forward+backward")
    ap.add_argument("--fb-slack", type=float, default=1.05, help="allowed f+b sum vs the shipped configuration")
    ap.add_argument("--out", default="results")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    ts = [int(t) for t in args.t.split(",")]
    score_ts = [int(t) for t in args.score_ts.split(",")]
    data = {t: inputs(t) for t in ts}
    rows, ref = [], {}
    start = time.monotonic()
    default = default_config(torch.device("cuda"))
    for pname, ppatch, lname, lpatch in variants():
        patch = {**ppatch, **lpatch}
        cfg = default.patched(patch)
        row = {"plan": pname, "launch": lname, "patch": patch, "fwd": {}, "err": {}}
        try:
            for t in ts:
                xs, _, s = data[t]
                _, ms = fwd_ms(xs, s, args.rep, cfg)
                o = check_output(xs, s, cfg)
                if t not in ref:  # the first variant is the reference
                    ref[t] = o
                row["fwd"][t], row["err"][t] = ms, rel(o, ref[t])
        except Exception as exc:  # a variant that does not fit (registers, shared memory) is reported
            row["failed"] = f"{type(exc).__name__}: {str(exc)[:160]}"
        ok = "failed" not in row and all(e <= 2e-2 for e in row["err"].values())
        row["ok"] = ok
        row["score"] = sum(row["fwd"].get(t, float("inf")) for t in score_ts) if ok else float("inf")
        rows.append(row)
        cells = " ".join(f"{t // 1024}k {row['fwd'][t]:.3f}" for t in row["fwd"])
        note = row.get("failed", "") or ("" if ok else f" WRONG {max(row['err'].values()):.1e}")
        print(
            f"{pname:15s} {lname:15s} {cells} score {row['score']:.3f}{note}  [{time.monotonic() - start:.0f}s]",
            flush=True,
        )
    shipped = rows[0]
    ranked = sorted((r for r in rows if r["ok"]), key=lambda r: r["score"])[: args.top]
    if shipped not in ranked:
        ranked.append(shipped)
    for row in ranked:
        cfg = default.patched(row["patch"])
        row["fb"] = {t: fb_ms(data[t][0], data[t][1], data[t][2], args.rep * 2, cfg) for t in ts}
        cells = " ".join(f"{t // 1024}k {row['fb'][t]:.3f}" for t in ts)
        print(f"f+b {row['plan']:15s} {row['launch']:11s} {cells}", flush=True)
    fb_sum = lambda r: sum(r["fb"][t] for t in score_ts)  # noqa: E731
    fit = [r for r in ranked if fb_sum(r) <= args.fb_slack * fb_sum(shipped)]
    best = min(fit, key=lambda r: r["score"])
    print(f"best: {best['plan']} {best['launch']} fwd score {best['score']:.3f} (shipped {shipped['score']:.3f})")
    with open(os.path.join(args.out, "best_config.json"), "w") as f:
        json.dump(dataclasses.asdict(default.patched(best["patch"])), f)
    with open(os.path.join(args.out, "fwd_grid.json"), "w") as f:
        json.dump({"rows": rows, "best": best["patch"]}, f, indent=1, default=str)


if __name__ == "__main__":
    main()
