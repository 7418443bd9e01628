"""Memory and time of per-token log-probs + preference loss, forward + backward, on one GPU.

Side by side in one run: the plain path (full bf16 logits, fp32 log_softmax, gather), Liger-Kernel's
LigerFusedLinearSimPOLoss (fused head + loss, chunked per pair), litlab's fused head + loss
(`litlab.alignment.logprobs.fused_token_loss`: gradients formed in the forward, 3 head GEMMs per token) and
litlab's chunked log-probs (`chunked_token_logps`: logits recomputed in backward, 4 GEMMs), all feeding the
same pure objectives. Gradients of every method are compared with the plain path's (relative L2 error).
Losses: SimPO (beta 2, gamma 0.5) + chosen NLL (weight 1), and SMPO modified (defaults: flip, p_lo 0.02,
floor -2.3, lambda 0.8). Peak memory is max_memory_allocated above what is allocated before the call
(the inputs); time is the median over repetitions of one forward+backward (CUDA events).

    python benchmarks/alignment/alignment_logprobs.py --out results.json      # 4 pairs, T 4096, d 1536, V 151936
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import traceback

import torch

from litlab.alignment.logprobs import chunked_token_logps, fused_token_loss
from litlab.alignment.losses import SMPO, SimPO


def make_inputs(pairs: int, t: int, d: int, v: int, seed: int = 0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    hidden = (torch.randn(2 * pairs, t, d, device="cuda", generator=g) * 1.0).bfloat16().requires_grad_()
    weight = (torch.randn(v, d, device="cuda", generator=g) * d**-0.5).bfloat16().requires_grad_()
    targets = torch.randint(0, v, (2 * pairs, t), device="cuda", generator=g)
    rows = torch.arange(2 * pairs, device="cuda")
    batch = dict(
        completion_mask=torch.ones(2 * pairs, t, dtype=torch.bool, device="cuda"),
        eos_mask=torch.zeros(2 * pairs, t, dtype=torch.bool, device="cuda"),
        is_rejected=rows >= pairs,
        pair_index=rows % pairs,
    )
    batch["eos_mask"][:, -1] = True
    return hidden, weight, targets, batch


def plain_logps(hidden, weight, targets):
    logits = hidden @ weight.T  # [R, T, V] bf16
    return logits.float().log_softmax(-1).gather(-1, targets[..., None])[..., 0]


def fused(objective, token_chunk: int = 8192, cache_gib: float = 6.0):
    def run(h, w, y, b):
        groups, shared = objective.gradient_groups(b)
        return fused_token_loss(
            h, w, y, lambda lp: objective(lp, b), groups=groups, shared=shared, token_chunk=token_chunk,
            cache_gib=cache_gib, partial_loss_fn=lambda lp: objective(lp, b, with_info=False),
        )[0]  # fmt: skip

    return run


def make_runners(objective_name: str, liger_ok: bool):
    """Methods in run order; the plain path goes first: every other method's gradients are compared to it."""
    objective = SimPO(beta=2.0, gamma=0.5, nll_chosen_weight=1.0) if objective_name == "simpo" else SMPO()
    runners = {"plain": lambda h, w, y, b: objective(plain_logps(h, w, y), b)[0]}
    if objective_name == "simpo" and liger_ok:
        from liger_kernel.chunked_loss import LigerFusedLinearSimPOLoss

        liger = LigerFusedLinearSimPOLoss(beta=2.0, gamma=0.5, alpha=1.0, compute_nll_loss=True)

        def run_liger(h, w, y, b):
            out = liger(w, h, y)
            return out[0] if isinstance(out, tuple) else out

        runners["Liger 0.8.5 LigerFusedLinearSimPOLoss"] = run_liger
    runners.update({
        "litlab fused_token_loss (8192 tokens, cache 6 GiB: the default)": fused(objective),
        "litlab fused_token_loss (4096 tokens, cache 6 GiB)": fused(objective, 4096, 6.0),
        "litlab fused_token_loss (4096 tokens, cache 4 GiB)": fused(objective, 4096, 4.0),
        "litlab fused_token_loss (16384 tokens, cache 6 GiB)": fused(objective, 16384, 6.0),
    })  # fmt: skip
    late = {  # measured last: the previous litlab path (4 head GEMMs per token)
        "litlab chunked_token_logps (compiled tiles 8192 x 32768)": lambda h, w, y, b: objective(
            chunked_token_logps(h, w, y, compile=True), b
        )[0],
    }
    return runners, late


def measure(fn, hidden, weight, targets, batch, warmup: int, reps: int):
    times, peaks = [], []
    for i in range(warmup + reps):
        hidden.grad = weight.grad = None
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        loss = fn(hidden, weight, targets, batch)
        loss.backward()
        end.record()
        torch.cuda.synchronize()
        if i >= warmup:
            times.append(start.elapsed_time(end))
            peaks.append((torch.cuda.max_memory_allocated() - base) / 2**30)
    return loss.detach().float().item(), statistics.median(times), max(peaks)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=4)
    p.add_argument("--seq", type=int, default=4096)
    p.add_argument("--hidden", type=int, default=1536)
    p.add_argument("--vocab", type=int, default=151936)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--out", default="alignment_logprobs.json")
    p.add_argument("--skip-chunked", action="store_true", help="leave out chunked_token_logps (4 GEMMs/token)")
    args = p.parse_args()
    torch._dynamo.config.cache_size_limit = 64
    try:
        import liger_kernel  # noqa: F401

        liger_ok = True
    except ImportError:
        liger_ok = False
    h, w, y, batch = make_inputs(args.pairs, args.seq, args.hidden, args.vocab)
    results, reference, jobs, late_jobs = [], {}, [], []
    for name in ("simpo", "smpo_modified"):
        runners, late = make_runners(name, liger_ok)
        jobs += [(name, method, fn) for method, fn in runners.items()]
        late_jobs += [] if args.skip_chunked else [(name, method, fn) for method, fn in late.items()]
    for name, method, fn in jobs + late_jobs:
        try:
            loss, ms, gib = measure(fn, h, w, y, batch, args.warmup, args.reps)
            row = dict(loss=name, method=method, value=loss, median_ms=ms, peak_gib=gib)
            if name not in reference:
                reference[name] = (h.grad.clone(), w.grad.clone())
            else:
                ref_h, ref_w = reference[name]
                row.update(rel_err_d_hidden=_rel(h.grad, ref_h), rel_err_d_weight=_rel(w.grad, ref_w))
        except Exception as exc:  # a failed variant is reported, the others still run
            traceback.print_exc()
            row = dict(loss=name, method=method, error=f"{type(exc).__name__}: {exc}"[:300])
        torch.cuda.empty_cache()
        results.append(row)
        print(json.dumps(row), flush=True)
        with open(args.out, "w") as f:  # after every method: a timeout keeps what finished
            json.dump(dict(meta=_meta(args), results=results), f, indent=1)


def _rel(a, b) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def _meta(args) -> dict:
    return dict(
        gpu=torch.cuda.get_device_name(), torch=torch.__version__, triton=_version("triton"),
        liger=_version("liger_kernel"), shape=vars(args), python=sys.version.split()[0],
    )  # fmt: skip


def _version(mod: str) -> str:
    try:
        return __import__(mod).__version__
    except Exception:
        return "n/a"


if __name__ == "__main__":
    main()
