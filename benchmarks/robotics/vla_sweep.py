"""Experiment 1 of the TinyVLA issue: PointMass2D at 10/25/50/100 Hz with one-second chunks, three arms.

One run = (rate, arm, seed): the same TinyVLA trunk (litlab.robotics.vla) with FAST tokens, binning
tokens or the flow-matching head, trained for ``--steps`` AdamW steps (warm-up + cosine, clip 1.0,
EMA 0.995 by default: 0.999 would keep 0.999^steps of the random initial weights in runs this short) on
a pool from ``vla_pool.py``, then run closed loop on held-out seeds (2,000,000+, never a demonstration
seed): success rate with a Wilson 95% interval, tokens per chunk, strict decode-failure
rate of the plans, per-chunk latency (the batched plan for all environments, and one environment
alone). ``--max-seconds`` stops training early on a wall-clock budget; the JSON then says how many
steps were done. Plain torch (no Lightning, no CLI), so it runs on the bare GPU image.

    python benchmarks/robotics/vla_sweep.py --pool runs/vla_sweep/pools/pool_50hz.pt --arm fast --seed 0
    python benchmarks/robotics/vla_sweep.py --report runs/vla_sweep --plot packages/robotics/docs/vla_rate_sweep.png
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from litlab.robotics.vla.configuration import VLAConfig
from litlab.robotics.vla.ema import EMA
from litlab.robotics.vla.modeling import make_policy
from litlab.robotics.vla.module import summarize
from litlab.robotics.vla.processor import VLAProcessor
from litlab.robotics.vla.rollout import TEST_SEED_OFFSET, evaluate_closed_loop
from litlab.shared.optim import param_groups, warmup_cosine

ARMS = {"fast": ("tokens", "fast"), "binning": ("tokens", "binning"), "flow": ("flow", "continuous")}


def build(pool: dict, arm: str, a) -> torch.nn.Module:
    head, kind = ARMS[arm]
    proc = VLAProcessor.from_dict(pool["processors"][kind])
    cfg = VLAConfig(head, pool["image_size"], a.patch, a.dim, a.layers, a.heads, "S",
                    max(1, pool["horizon"] // 2), True, a.flow_steps)
    kw = {"decode_budget": proc.decode_budget(pool["lengths_fast"])} if kind == "fast" else {}
    return make_policy(cfg, proc, **kw)


def batch_at(pool: dict, arm: str, idx: torch.Tensor, device) -> dict:
    b = {"observation.image": pool["image"][idx], "observation.state": pool["state"][idx],
         "action": pool["action"][idx], "prefix_ids": pool["prefix_ids"][idx]}
    kind = ARMS[arm][1]
    if kind != "continuous":
        post = pool[f"postfix_{kind}"][idx]
        b["postfix_ids"] = post[:, : int((post != 0).sum(1).max())]  # drop all-PAD columns
    return {k: v.to(device, non_blocking=True) for k, v in b.items()}


def train(policy, pool: dict, arm: str, a, device) -> dict:
    """AdamW steps on random pool batches; returns the run's training record (loss curve, samples/s).

    The learning rate follows warm-up + cosine (litlab.shared.optim.warmup_cosine) over the training
    progress max(step / steps, elapsed / max_seconds), so a run on a wall-clock budget still anneals."""
    opt = torch.optim.AdamW(param_groups(policy, 0.0), lr=a.lr, betas=(0.9, 0.95), fused=device.type == "cuda")
    ema = EMA(policy, a.ema_decay) if a.ema_decay else None
    gen = torch.Generator().manual_seed(a.seed)
    n, curve, t0, step, res = len(pool["action"]), [], time.perf_counter(), 0, 1000
    policy.train()
    while step < a.steps:
        progress = max(step / a.steps, (time.perf_counter() - t0) / a.max_seconds)
        if progress >= 1.0:
            break
        for g in opt.param_groups:
            g["lr"] = a.lr * warmup_cosine(int(progress * res), a.warmup * res // a.steps, res, 0.1)
        batch = batch_at(pool, arm, torch.randint(n, (a.batch_size,), generator=gen), device)
        with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
            loss, info = policy(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt.step()
        step += 1
        if ema is not None:
            ema.update(policy)
        if step % a.log_every == 0:
            loss = loss.detach()
            curve.append({"step": step, "seconds": time.perf_counter() - t0, "lr": opt.param_groups[0]["lr"]}
                         | {k: float(v) for k, v in info.items()})
            print(f"[{a.tag}] step {step} loss {loss.item():.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    if ema is not None:
        with torch.no_grad():
            for p, s in zip(policy.parameters(), ema.shadow):
                p.copy_(s.to(p.dtype))
    return {"steps_done": step, "train_seconds": secs, "samples_per_s": step * a.batch_size / secs, "curve": curve}


def evaluate(policy, pool: dict, a) -> dict:
    """Closed loop on held-out seeds (batched), then the latency of one environment alone."""
    policy.eval()
    seeds = range(TEST_SEED_OFFSET + a.seed * 10_000, TEST_SEED_OFFSET + a.seed * 10_000 + a.episodes)
    t0 = time.perf_counter()
    res = evaluate_closed_loop(policy, seeds, pool["rate"], pool["image_size"])
    secs = time.perf_counter() - t0
    out = {k.removeprefix("test/"): v for k, v in summarize([res]).items()}
    env_steps = int(res["steps"].sum())
    out |= {"env_steps": env_steps, "eval_seconds": secs, "control_steps_per_s": env_steps / secs,
            "mean_final_distance": float(res["final_distance"].mean()),
            "tokens_per_chunk_p99": float(np.percentile(res["tokens_per_chunk"], 99)) if res["chunks"] else None}
    single = evaluate_closed_loop(policy, [seeds[0]], pool["rate"], pool["image_size"])
    out["chunk_latency_ms_b1"] = float(np.median(single["chunk_latency_s"][1:] if len(single["chunk_latency_s"]) > 1
                                                 else single["chunk_latency_s"]) * 1e3)
    return out


def run(a) -> None:
    device = torch.device(a.device if a.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(a.seed)
    pool = torch.load(a.pool, weights_only=False)
    for k, v in pool.items():  # the whole pool lives on the device: a step only indexes it
        if isinstance(v, torch.Tensor):
            pool[k] = v.contiguous().to(device)
    a.tag = a.tag or f"{pool['rate']}hz_{a.arm}_s{a.seed}"
    policy = build(pool, a.arm, a).to(device)
    info = {"rate": pool["rate"], "horizon": pool["horizon"], "arm": a.arm, "seed": a.seed, "device": str(device),
            "card": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "torch": torch.__version__,
            "params": sum(p.numel() for p in policy.parameters()), "steps": a.steps, "batch_size": a.batch_size,
            "pool_windows": len(pool["action"]), "demos": pool["episodes"],
            "restrict_decode": True, "n_action_steps": policy.n_action_steps}
    info |= train(policy, pool, a.arm, a, device)
    info |= evaluate(policy, pool, a)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{a.tag}.json").write_text(json.dumps(info, indent=1))
    print(f"[{a.tag}] success {info['success_rate']:.2f} [{info['success_ci_low']:.2f}, {info['success_ci_high']:.2f}]"
          f" steps {info['steps_done']} {info['samples_per_s']:.0f} samples/s", flush=True)


def report(folder: Path, plot: Path | None) -> None:
    """Markdown table (mean over seeds, and the per-seed values) and a success-vs-rate plot."""
    rows = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    if not rows:
        raise SystemExit(f"no run JSON files in {folder}")
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["rate"], r["arm"]), []).append(r)
    print("| rate (Hz) | H | arm | seeds | success (mean; per seed) | Wilson 95% (pooled) | tokens/chunk (p99) |"
          " strict failures | latency/chunk b=50, b=1 (ms) | steps | train samples/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    from litlab.robotics.vla.rollout import wilson_interval

    for (rate, arm), rs in sorted(groups.items()):
        succ = [r["success_rate"] for r in rs]
        k = sum(round(r["success_rate"] * r["episodes"]) for r in rs)
        lo, hi = wilson_interval(k, int(sum(r["episodes"] for r in rs)))
        tok = (f"{np.mean([r['tokens_per_chunk'] for r in rs]):.1f} ({max(r['tokens_per_chunk_p99'] for r in rs):.0f})"
               if "tokens_per_chunk" in rs[0] else "-")
        fail = f"{np.mean([r['rollout_strict_failure_rate'] for r in rs]):.1%}" if "tokens_per_chunk" in rs[0] else "-"
        print(f"| {rate} | {rs[0]['horizon']} | {arm} | {len(rs)} | {np.mean(succ):.2f}; "
              f"{', '.join(f'{s:.2f}' for s in succ)} | [{lo:.2f}, {hi:.2f}] | {tok} | {fail} | "
              f"{np.median([r['chunk_latency_ms'] for r in rs]):.1f}, "
              f"{np.median([r['chunk_latency_ms_b1'] for r in rs]):.1f} | "
              f"{min(r['steps_done'] for r in rs)} | {np.median([r['samples_per_s'] for r in rs]):.0f} |")
    if plot:
        _plot(groups, plot, rows[0]["card"])


def _plot(groups: dict, path: Path, card: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for arm in ARMS:
        pts = sorted((rate, [r["success_rate"] for r in rs]) for (rate, a), rs in groups.items() if a == arm)
        if pts:
            x = [p[0] for p in pts]
            ax.errorbar(x, [np.mean(p[1]) for p in pts], yerr=[np.std(p[1]) for p in pts], marker="o", capsize=3,
                        label=arm)
    ax.axhline(0.8, color="grey", ls=":", lw=1)
    ax.set(xscale="log", xlabel="control rate (Hz), one-second chunks", ylabel="closed-loop success",
           ylim=(-0.02, 1.02), title=f"TinyVLA on PointMass2D ({card})")
    ax.set_xticks([10, 25, 50, 100], ["10", "25", "50", "100"])
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=Path)
    ap.add_argument("--arm", choices=list(ARMS), default="fast")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--max-seconds", type=float, default=float("inf"), help="training wall-clock budget")
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--ema-decay", type=float, default=0.995,
                    help="0: off; 0.999 (the paper) keeps 0.999^steps of the initial weights in short runs")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--flow-steps", type=int, default=10)
    ap.add_argument("--episodes", type=int, default=50, help="closed-loop test episodes")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--tag", default="")
    ap.add_argument("--out", type=Path, default=Path("runs/vla_sweep"))
    ap.add_argument("--report", type=Path, help="aggregate the JSON files of this folder instead of training")
    ap.add_argument("--plot", type=Path)
    a = ap.parse_args()
    if a.report:
        return report(a.report, a.plot)
    if a.pool is None or not a.pool.is_file():
        raise SystemExit(f"--pool must be a pool file from vla_pool.py, got {a.pool}")
    run(a)


if __name__ == "__main__":
    main()
