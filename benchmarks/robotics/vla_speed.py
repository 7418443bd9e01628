"""Experiment 3 of the TinyVLA issue: training samples/s and closed-loop control steps/s per arm.

Training: the median time of one AdamW step (forward, backward, clip, step; bf16 autocast on CUDA) over
``--reps`` steps after ``--warmup`` steps, on batches of a ``vla_pool.py`` pool already on the device.
Closed loop: PointMass2D episodes on held-out seeds with ``--envs`` environments stepped together
(one plan per ``n_action_steps`` = H/2 steps), control steps per second of wall clock, images rendered
in numpy on the host. The policies are untrained: binning always decodes H*D + 2 tokens and the flow
head always runs its Euler steps, so their numbers are what a trained model costs; an untrained FAST
policy decodes up to its budget (p99 length + 25% + 4), an upper bound on a trained one's cost.

    python benchmarks/robotics/vla_speed.py --pool runs/vla_sweep/pools/pool_50hz.pt --device cpu
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from vla_sweep import ARMS, batch_at, build

from litlab.robotics.vla.rollout import TEST_SEED_OFFSET, evaluate_closed_loop


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_speed(policy, pool: dict, arm: str, a, device) -> float:
    """Median training samples/s of ``policy`` on pool batches."""
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-4, fused=device.type == "cuda")
    times = []
    for i in range(a.warmup + a.reps):
        batch = batch_at(pool, arm, torch.randint(len(pool["action"]), (a.batch_size,)), device)
        _sync(device)
        t0 = time.perf_counter()
        with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
            loss, _ = policy(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt.step()
        _sync(device)
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    return a.batch_size / statistics.median(times)


def control_speed(policy, pool: dict, envs: int) -> tuple[float, float]:
    """(control steps/s, median per-chunk plan latency in ms) over ``envs`` batched episodes."""
    policy.eval()
    t0 = time.perf_counter()
    res = evaluate_closed_loop(policy, range(TEST_SEED_OFFSET, TEST_SEED_OFFSET + envs), pool["rate"],
                               pool["image_size"])
    secs = time.perf_counter() - t0
    return float(res["steps"].sum()) / secs, float(statistics.median(res["chunk_latency_s"]) * 1e3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=Path, required=True)
    ap.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--envs", type=int, nargs="+", default=[1, 50])
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--flow-steps", type=int, default=10)
    a = ap.parse_args()
    device = torch.device(a.device)
    pool = torch.load(a.pool, weights_only=False)
    pool = {k: v.contiguous().to(device) if isinstance(v, torch.Tensor) else v for k, v in pool.items()}
    card = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"{card}, torch {torch.__version__}, {pool['rate']} Hz (H={pool['horizon']}), batch {a.batch_size}, "
          f"dim {a.dim} x {a.layers} layers, median of {a.reps} steps")
    cols = " | ".join(f"control steps/s ({n} envs), plan ms" for n in a.envs)
    print(f"| arm | params | train samples/s | {cols} |")
    print("|---|---|---|" + "---|" * len(a.envs))
    for arm in a.arms:
        torch.manual_seed(0)
        policy = build(pool, arm, a).to(device)
        policy.train()
        sps = train_speed(policy, pool, arm, a, device)
        ctrl = [control_speed(policy, pool, n) for n in a.envs]
        params = sum(p.numel() for p in policy.parameters())
        cells = " | ".join(f"{c:.0f}, {ms:.1f}" for c, ms in ctrl)
        print(f"| {arm} | {params / 1e6:.2f}M | {sps:.0f} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
