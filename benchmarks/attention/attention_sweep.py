"""Launch-configuration sweep of litlab's Lightning Attention-2 Triton kernels (arXiv 2401.04658) on one GPU.

Coordinate search over the fields of ``litlab.attention.ops.triton_config.KernelConfig``, starting from the GPU's
default: each group (forward, segment plan, dq, dk + dv, backward chunk, local passes) is varied with the others
at their best so far (each candidate a frozen ``KernelConfig.patched`` copy passed to the Triton path), timed with
``triton.testing.do_bench`` medians at the benchmark shape (64k tokens per call, H = 16, bf16), and every
variant's outputs and gradients are compared with the default configuration's (rel. error <= 2e-2, all
finite). The winner is then checked against float64 naive (bf16, decay, initial state; and fp32 with
segments) and timed at the other T. Prints one line per variant and writes ``sweep.json``.

    python benchmarks/attention/attention_sweep.py --t 4096 --check-ts 1024,16384,65536 --out results
    python benchmarks/attention/attention_sweep.py --t 16384,32768,65536 --groups fwd_seg,plan \
        --check-ts 4096 --out results
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import time

import torch
from triton.testing import do_bench

from litlab.attention.ops import slopes
from litlab.attention.ops.chunk_triton import triton_lightning_attn
from litlab.attention.ops.testing import compare, make_inputs, run
from litlab.attention.ops.triton_config import KernelConfig, default_config

H, TOKENS = 16, 65536


def attn(cfg: KernelConfig):
    """lightning_attn-like call of the Triton path with the configuration ``cfg``."""

    def op(q, k, v, decay=None, *, scale=None, initial_state=None, output_final_state=False, backend="triton"):
        scale = q.shape[-1] ** -0.5 if scale is None else scale
        o, st = triton_lightning_attn(q, k, v, decay, scale, initial_state, None, output_final_state, config=cfg)
        return o, st if output_final_state else None

    return op


def variants():
    """(group, list of config patches) in search order."""
    launch = lambda w, st: {"num_warps": w, "num_stages": st}  # noqa: E731
    grid = itertools.product((8192, 16384), (4, 8), (1, 2, 3))
    fwd = [{"fwd_elems": e, "fwd": launch(w, st), "fwd_tma": launch(w, st)} for e, w, st in grid]
    fwd += [{"fwd_chunk": 128, "fwd_elems": e, "fwd": launch(8, st)} for e in (8192, 16384) for st in (2, 3)]
    dkv = [{"dkv": launch(w, st)} for w, st in itertools.product((4, 8), (1, 2, 3))]
    out = [("fwd", fwd), ("dkv", dkv)]
    # the segmented forward (search it at T >= 16k with H = 16, where B*H*tiles < SMs)
    out.append(("fwd_seg", [{"fwd_seg": launch(w, st)} for w, st in itertools.product((4, 8), (1, 2, 3, 4))]))
    out.append(("plan", [{"programs_per_sm": p} for p in (1, 2, 3, 4, 8)]))
    grid = itertools.product((8192, 16384), (4, 8), (2, 3))
    out.append(("dq", [{"dq_elems": e, "dq": launch(w, st)} for e, w, st in grid]))
    out.append(("bwd_chunk", [{"bwd_chunk": c} for c in (32, 64, 128)]))
    out.append(("local", [{"local": launch(w, st)} for w, st in itertools.product((4, 8), (2, 3))]))
    return out


def inputs(t, d=128):
    g = torch.Generator(device="cuda").manual_seed(0)
    b = TOKENS // t
    xs = [(torch.randn(b, t, H, d, device="cuda", generator=g) * 0.1).bfloat16().requires_grad_() for _ in range(3)]
    return xs, torch.randn(b, t, H, d, device="cuda", generator=g).bfloat16(), slopes(H, kind="alibi").cuda()


def measure(xs, do, s, cfg: KernelConfig):
    """(outputs for the check, fwd ms, f+b ms) with the configuration ``cfg``."""
    q, k, v = xs
    lightning_attn = attn(cfg)
    o = lightning_attn(q, k, v, s, scale=1.0)[0]
    grads = torch.autograd.grad(o, xs, do)
    res = {"o": o.detach(), "dq": grads[0], "dk": grads[1], "dv": grads[2]}
    with torch.no_grad():
        fwd = do_bench(lambda: lightning_attn(q, k, v, s, scale=1.0), return_mode="median", warmup=20, rep=80)
    fb = do_bench(
        lambda: torch.autograd.grad(lightning_attn(q, k, v, s, scale=1.0)[0], xs, do),
        return_mode="median",
        warmup=20,
        rep=80,
    )
    return res, fwd, fb


def search(ts, log, budget, groups=None) -> KernelConfig:
    """Coordinate search from the GPU's default configuration; a variant's score sums its times over every T in
    ``ts``. Returns the best configuration."""
    cur = default_config(torch.device("cuda"))
    start = time.monotonic()
    data = {t: inputs(t) for t in ts}
    refs = {}
    for t, (xs, do, s) in data.items():
        refs[t], fwd, fb = measure(xs, do, s, cur)
        print(f"T={t} default: fwd {fwd:.3f} f+b {fb:.3f} ms", flush=True)
        log.append({"t": t, "group": "default", "cfg": dataclasses.asdict(cur), "fwd": fwd, "fb": fb})
    for group, patches in variants():
        if groups and group not in groups:
            continue
        if time.monotonic() - start > budget:
            print(f"  {group}: skipped (time budget)", flush=True)
            continue
        best = (None, float("inf"))
        for patch in patches:
            cand = cur.patched(patch)
            score, ok = 0.0, True
            for t, (xs, do, s) in data.items():
                try:
                    got, fwd, fb = measure(xs, do, s, cand)
                    err = max(compare(got, refs[t]).values())
                except Exception as exc:  # a config that does not fit (shared memory, registers) is reported
                    print(f"  {group} {patch}: failed {type(exc).__name__}: {str(exc)[:120]}", flush=True)
                    ok = False
                    break
                # f+b has more slack against fla than the forward
                score += {"fwd": fwd, "plan": fwd + fb / 4}.get(group, fb)
                ok = ok and err <= 2e-2
                flag = "" if err <= 2e-2 else " WRONG"
                print(f"  T={t} {group} {patch}: fwd {fwd:.3f} f+b {fb:.3f} err {err:.1e}{flag}", flush=True)
                log.append({"t": t, "group": group, "patch": patch, "fwd": fwd, "fb": fb, "err": err})
            if ok and score < best[1]:
                best = (patch, score)
        if best[0] is not None:
            cur = cur.patched(best[0])
        print(f"  -> {group}: {best}", flush=True)
    del data
    torch.cuda.empty_cache()
    return cur


def check_f64(cfg: KernelConfig):
    """The chosen config against float64 naive: bf16 (decay, state) and fp32 with segments."""
    errs = {}
    for name, (b, t, dtype, tol) in {
        "bf16": (2, 1000, torch.bfloat16, 1e-2),
        "fp32seg": (1, 9000, torch.float32, 1e-5),
    }.items():
        inp = make_inputs(b, t, 4, 128, 128, dtype, "cuda", decay=[0.0, 7.9, 0.5, 0.0039], state=True, seed=5)
        got = run(inp, "triton", op=attn(cfg))
        e = compare(got, run(inp, "naive" if t <= 1000 else "torch", precision=torch.float64))
        errs[name] = {k: float(v) for k, v in e.items()}
        worst = max(v for k, v in e.items() if k != "ddecay")
        print(f"float64 check {name}: worst {worst:.2e} ({'ok' if worst <= tol else 'FAIL'}) {errs[name]}", flush=True)
    return errs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t", default="4096", help="T of the search (a comma list: scores sum over them)")
    ap.add_argument("--check-ts", default="1024,16384,65536", help="T values to time default vs best")
    ap.add_argument("--budget", type=float, default=150.0, help="seconds for the search; later groups skipped")
    ap.add_argument("--groups", default="", help="comma-separated groups to search (default: all)")
    ap.add_argument("--no-check", action="store_true", help="skip the float64 check of the winner")
    ap.add_argument("--out", default="results")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    log = []
    best = search([int(t) for t in args.t.split(",")], log, args.budget, set(filter(None, args.groups.split(","))))
    print(f"best config: {best}", flush=True)
    errs = {} if args.no_check else check_f64(best)
    for t in map(int, filter(None, args.check_ts.split(","))):
        xs, do, s = inputs(t)
        for name, cfg in (("default", default_config(torch.device("cuda"))), ("best", best)):
            _, fwd, fb = measure(xs, do, s, cfg)
            print(f"T={t} {name}: fwd {fwd:.3f} f+b {fb:.3f} ms", flush=True)
            log.append({"t": t, "group": "final-" + name, "fwd": fwd, "fb": fb})
    with open(os.path.join(args.out, "sweep.json"), "w") as f:
        json.dump({"best": dataclasses.asdict(best), "float64": errs, "log": log}, f, indent=1)
    with open(os.path.join(args.out, "best_config.json"), "w") as f:
        json.dump(best, f)


if __name__ == "__main__":
    main()
