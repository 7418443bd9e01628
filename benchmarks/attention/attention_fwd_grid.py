"""Full grid of forward plans and launch options of litlab's Lightning Attention-2 Triton kernels at long T.

Where ``attention_sweep.py`` searches one configuration group at a time, this times every pair (segment plan x
forward launch) at each T, forward only, because at long T the two interact: the tile width sets how many
programs one segment gives, the plan how many segments there are, the warps and stages how many programs
fit on an SM. Each variant's output is compared with the first variant's (rel. error <= 2e-2, finite) on the
same inputs with every other head's slope set to 0 (``check_output``).
The best variants by the summed forward time over the long T are then timed forward+backward too, and the
winner (lowest forward sum whose forward+backward sum is within --fb-slack of the shipped one) is written to
OUT/best_config.json for the later steps of ``attention_gpu_run.sh``.

    python benchmarks/attention/attention_fwd_grid.py --out results --t 8192,16384,32768,65536 --grid second
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time

import torch
from triton.testing import do_bench

from litlab.attention.ops import lightning_attn, slopes, triton_config
from litlab.attention.ops.testing import rel

H, TOKENS = 16, 65536
CFG = triton_config.CONFIG


def launches(kind):
    """name -> patch of the forward's tile width, warps, stages and chunk (both the plain and segmented forward).
    "first": the grid of run 8; "second": the shipped launch with the whole-sequence forward's options."""
    out = {}
    if kind == "second":
        for stages in (3, 2):
            out[f"e64w4s2-whole{stages}"] = {"fwd_whole": {"num_warps": 4, "num_stages": stages}}
        return out
    for name, elems, warps, stages, chunk in (
        ("e64w4s2", 8192, 4, 2, 64),  # shipped
        ("e64w8s2", 8192, 8, 2, 64),
        ("e64w4s3", 8192, 4, 3, 64),
        ("e128w8s2", 16384, 8, 2, 64),
        ("e32w4s2", 4096, 4, 2, 64),
        ("e64w4s2c32", 8192, 4, 2, 32),
    ):
        launch = {"num_warps": warps, "num_stages": stages}
        out[name] = {"fwd": {"elems": elems, **launch}, "fwd_seg": dict(launch), "fwd_chunk": chunk}
    return out


def plans(kind):
    """name -> patch of the segment plan: programs per SM aimed at, rounding, the local-state pass split (and its
    E tile), and the whole-sequence forward."""
    if kind == "second":
        wide = {"seg": {"elems": 16384, "num_warps": 8, "num_stages": 2}}
        split = {"seg_split": "auto"}
        out = {}
        for pps in (2, 3):
            # fwd_fill 2: the forward never merges segments (the plan of run 8); fwd_programs_per_sm 1 with the
            # default fill: the whole-sequence forward of run 10 (then "fwd_whole_min": 0.9)
            base = {"programs_per_sm": pps, "seg_round": "down", "seg_split": 1, "fwd_fill": 2.0}
            out[f"pps{pps}down"] = base
            out[f"pps{pps}down-split-wide"] = {**base, **split, **wide}
            out[f"pps{pps}down-whole"] = {**base, "fwd_fill": 0.9, "fwd_programs_per_sm": 1}
            out[f"pps{pps}down-split-wide-whole"] = {**base, **split, **wide, "fwd_fill": 0.9, "fwd_programs_per_sm": 1}
        return out
    return {
        "pps4up": {"programs_per_sm": 4, "seg_round": "up", "seg_split": 1},  # shipped
        "pps2down": {"programs_per_sm": 2, "seg_round": "down", "seg_split": 1},
        "pps2down-split": {"programs_per_sm": 2, "seg_round": "down", "seg_split": "auto"},
        "pps4up-split": {"programs_per_sm": 4, "seg_round": "up", "seg_split": "auto"},
        "pps1down-split": {"programs_per_sm": 1, "seg_round": "down", "seg_split": "auto"},
        "pps3down-split": {"programs_per_sm": 3, "seg_round": "down", "seg_split": "auto"},
    }


def pipelined(kind):
    """(plan name, plan patch, launch name, launch patch) of the "third" grid: launches that pipeline the forward's
    loads a whole chunk ahead (3-4 stages; with 2 stages Triton issues the next chunk's copies at the end of the
    loop body and waits for them at its top, so nothing overlaps inside a program: Nsight Compute, run 11), each
    with the segment plan that matches how many of its programs fit on an SM (registers capped by maxnreg).
    "fourth": the forward whose tiles are copied by the tensor memory accelerator (fwd_tma) at 2-3 stages, 4 or 8
    warps, chunk 32 or 64, full E tiles (BENCHMARKS.md run 16)."""
    rows = [("e64w4s2", 8192, 4, 2, 64, None, 2, {"fwd_tma": False, "fwd_programs_per_sm": 2})]  # pointer loads
    tma = {"fwd_tma": True, "fwd_programs_per_sm": 2}
    if kind == "third":
        rows[0] = ("e64w4s2", 8192, 4, 2, 64, None, 2, {"fwd_tma": False, "fwd_programs_per_sm": 2})
        rows += [
            ("c32w4s3", 8192, 4, 3, 32, None, 2, {}),
            ("c32w4s4", 8192, 4, 4, 32, None, 2, {}),
            ("c32w4s3r168", 8192, 4, 3, 32, 168, 3, {}),
            ("c32e128w8s3", 16384, 8, 3, 32, None, 1, {}),
            ("c32e128w8s4", 16384, 8, 4, 32, None, 1, {}),
            ("c32e128w8s3r128", 16384, 8, 3, 32, 128, 2, {}),
            ("e128w8s3", 16384, 8, 3, 64, None, 1, {}),
            ("e64w8s3", 8192, 8, 3, 64, None, 1, {}),
        ]
    else:
        rows += [
            ("tma-w4s2", 8192, 4, 2, 64, None, 2, tma),
            ("tma-w4s3", 8192, 4, 3, 64, None, 1, tma),
            ("tma-w8s2", 8192, 8, 2, 64, None, 1, tma),
            ("tma-c32w4s3", 8192, 4, 3, 32, None, 2, tma),
            ("tma-c32w4s4", 8192, 4, 4, 32, None, 2, tma),
            ("tma-e128w8s2", 16384, 8, 2, 64, None, 1, tma),
        ]
    out = []
    for name, elems, warps, stages, chunk, regs, pps, extra in rows:
        launch = {"num_warps": warps, "num_stages": stages, **({"maxnreg": regs} if regs else {})}
        lpatch = {"fwd": {"elems": elems, **launch}, "fwd_seg": dict(launch), "fwd_chunk": chunk}
        lpatch["fwd_tma_launch"] = dict(launch)
        if name != "e64w4s2":  # the shipped whole-sequence forward keeps its 3 stages
            lpatch["fwd_whole"] = dict(launch)
        lpatch.update(extra)
        out.append((f"pps{pps}down", {"programs_per_sm": pps, "seg_round": "down", "seg_split": 1}, name, lpatch))
    return out


def coarse():
    """(plan name, plan patch, launch name, launch patch) of the "fifth" grid: the forward's own, coarser segments
    (fwd_programs_per_sm, coarse_split) with pointer loads and with the TMA forward (3 stages: one program per SM;
    2 stages: two), the backward's plan unchanged (2 programs per SM)."""
    plan = {"programs_per_sm": 2, "seg_round": "down", "seg_split": 1}
    ptr = {"fwd_tma": False}
    tma = {"fwd_tma": True, "fwd_tma_launch": {"num_warps": 4, "num_stages": 3}}
    tma2 = {"fwd_tma": True, "fwd_tma_launch": {"num_warps": 4, "num_stages": 2}}
    auto = {"fwd_programs_per_sm": 1, "coarse_split": "auto"}
    rows = [
        ("same", {"fwd_programs_per_sm": 2}, "ptr", ptr),  # the forward keeps the backward's segments
        ("coarse-auto", auto, "ptr", ptr),
        ("coarse-auto", auto, "tma-w4s3", tma),
        ("coarse-auto", auto, "tma-w4s3-inner", {**tma, "fwd_tma_bounds_inner": True}),
        ("coarse-1", {**auto, "coarse_split": 1}, "tma-w4s3", tma),
        ("coarse-auto2", {**auto, "split_programs_per_sm": 2}, "tma-w4s3", tma),
        ("coarse-auto8", {**auto, "split_programs_per_sm": 8}, "tma-w4s3", tma),
        ("same", {"fwd_programs_per_sm": 2}, "tma-w4s3", tma),
        ("same", {"fwd_programs_per_sm": 2}, "tma-w4s2", tma2),
        ("coarse-auto", auto, "tma-w4s2", tma2),
    ]
    return [(pn, {**plan, **pp}, ln, lp) for pn, pp, ln, lp in rows]


def variants(kind):
    if kind == "fifth":
        return coarse()
    if kind in ("third", "fourth"):
        return pipelined(kind)
    return [(pn, pp, ln, lp) for pn, pp in plans(kind).items() for ln, lp in launches(kind).items()]


def inputs(t, d=128):
    g = torch.Generator(device="cuda").manual_seed(0)
    b = TOKENS // t
    xs = [(torch.randn(b, t, H, d, device="cuda", generator=g) * 0.1).bfloat16().requires_grad_() for _ in range(3)]
    return xs, torch.randn(b, t, H, d, device="cuda", generator=g).bfloat16(), slopes(H, kind="alibi").cuda()


def check_output(xs, s):
    """The forward with every other head's slope set to 0: the timed ALiBi slopes decay by e^-32 or more over a
    segment of 8k tokens, which leaves no trace of a wrong entering state in bf16; a head without decay does."""
    q, k, v = xs
    s = s.clone()
    s[::2] = 0.0
    with torch.no_grad():
        return lightning_attn(q, k, v, s, scale=1.0)[0]


def set_config(patch):
    CFG.clear()
    CFG.update(copy.deepcopy(triton_config.DEFAULT))
    for key, val in patch.items():
        CFG[key] = {**CFG[key], **val} if isinstance(val, dict) else val


def fwd_ms(xs, s, rep):
    q, k, v = xs
    with torch.no_grad():
        o = lightning_attn(q, k, v, s, scale=1.0)[0]
        return o, do_bench(lambda: lightning_attn(q, k, v, s, scale=1.0), return_mode="median", warmup=10, rep=rep)


def fb_ms(xs, do, s, rep):
    q, k, v = xs
    return do_bench(
        lambda: torch.autograd.grad(lightning_attn(q, k, v, s, scale=1.0)[0], xs, do),
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
    ap.add_argument(
        "--grid", default="second", choices=("first", "second", "third", "fourth", "fifth"), help="which variant grid"
    )
    ap.add_argument("--out", default="results")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    ts = [int(t) for t in args.t.split(",")]
    score_ts = [int(t) for t in args.score_ts.split(",")]
    data = {t: inputs(t) for t in ts}
    rows, ref = [], {}
    start = time.monotonic()
    for pname, ppatch, lname, lpatch in variants(args.grid):
        patch = {**ppatch, **lpatch}
        set_config(patch)
        row = {"plan": pname, "launch": lname, "patch": patch, "fwd": {}, "err": {}}
        try:
            for t in ts:
                xs, _, s = data[t]
                _, ms = fwd_ms(xs, s, args.rep)
                o = check_output(xs, s)
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
        set_config(row["patch"])
        row["fb"] = {t: fb_ms(data[t][0], data[t][1], data[t][2], args.rep * 2) for t in ts}
        cells = " ".join(f"{t // 1024}k {row['fb'][t]:.3f}" for t in ts)
        print(f"f+b {row['plan']:15s} {row['launch']:11s} {cells}", flush=True)
    fb_sum = lambda r: sum(r["fb"][t] for t in score_ts)  # noqa: E731
    fit = [r for r in ranked if fb_sum(r) <= args.fb_slack * fb_sum(shipped)]
    best = min(fit, key=lambda r: r["score"])
    print(f"best: {best['plan']} {best['launch']} fwd score {best['score']:.3f} (shipped {shipped['score']:.3f})")
    set_config(best["patch"])
    with open(os.path.join(args.out, "best_config.json"), "w") as f:
        json.dump(CFG, f)
    with open(os.path.join(args.out, "fwd_grid.json"), "w") as f:
        json.dump({"rows": rows, "best": best["patch"]}, f, indent=1, default=str)


if __name__ == "__main__":
    main()
