"""Demonstration pools for the VLA control-rate sweep (experiment 1 of the TinyVLA issue).

A pool is every training window of seeded PointMass2D expert demos at one control rate, already
normalized and tokenized, so a training step only indexes tensors on the device. This is the same
data the LeRobot v3 path gives (``VLADataModule``): q01/q99 quantile statistics of the training
episodes' frames, windows ``action[t : t+H]`` that repeat the last action past the episode end, and
a FAST tokenizer fitted on full training windows only. Only the image at each window start is kept,
and window starts are ``stride`` frames apart (``stride = rate / 10``: ten windows per second of demo
at every rate, so every rate sees the same number of distinct observations).

    python benchmarks/robotics/vla_pool.py --rates 10 25 50 100 --episodes 400 --out runs/vla_sweep/pools
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from litlab.robotics.sims.expert import rollout_expert
from litlab.robotics.sims.pointmass2d import PointMass2DEnv
from litlab.robotics.vla.batching import pad_postfix
from litlab.robotics.vla.processor import VLAProcessor

KINDS = ("fast", "binning", "continuous")


def _rollouts(args: tuple) -> list[dict]:
    rate, image_size, seeds, noises = args
    env = PointMass2DEnv(control_hz=rate, image_size=image_size)
    return [e for e in (rollout_expert(env, s, n) for s, n in zip(seeds, noises)) if e["success"]]


def demos(rate: int, episodes: int, image_size: int, seed: int = 0, noise_prob: float = 0.3,
          noise_std: float = 0.15, workers: int = 1) -> list[dict]:
    """Successful expert episodes on seeds seed..seed+episodes-1 (DART-style executed noise on a fraction),
    rolled out by ``workers`` processes; the result does not depend on ``workers``."""
    rng = np.random.default_rng([seed, 99])
    noises = [noise_std if rng.random() < noise_prob else 0.0 for _ in range(episodes)]
    parts = [(rate, image_size, list(range(seed + i, seed + episodes, workers)), noises[i::workers])
             for i in range(workers)]
    if workers == 1:
        return _rollouts(parts[0])
    import multiprocessing as mp

    with mp.get_context("fork").Pool(workers) as p:
        out = p.map(_rollouts, parts)
    return sorted((e for part in out for e in part), key=lambda e: e["seed"])


def quantile_stats(eps: list[dict]) -> dict:
    """The q01/q99 part of a LeRobot ``stats.json`` over all frames of ``eps``."""
    out = {}
    for key, col in (("action", "action"), ("observation.state", "state")):
        x = np.concatenate([e[col] for e in eps]).astype(np.float64)
        out[key] = {"q01": np.quantile(x, 0.01, axis=0).tolist(), "q99": np.quantile(x, 0.99, axis=0).tolist()}
    return out


def windows(eps: list[dict], horizon: int, stride: int) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """(episode, start) pairs every ``stride`` frames, raw action windows [N, H, D], full-window mask [N]."""
    index, chunks, full = [], [], []
    for k, e in enumerate(eps):
        n = len(e["action"])
        for t in range(0, n, stride):
            idx = np.minimum(np.arange(t, t + horizon), n - 1)
            index.append((k, t))
            chunks.append(e["action"][idx])
            full.append(t + horizon <= n)
    return index, np.stack(chunks).astype(np.float64), np.array(full)


def build_pool(rate: int, episodes: int, image_size: int = 64, seed: int = 0, fast_scale: float = 10.0,
               fast_vocab: int = 1024, workers: int = 1) -> dict:
    """Demos at ``rate`` Hz -> one processor per arm and the tokenized training windows (CPU tensors)."""
    eps = demos(rate, episodes, image_size, seed, workers=workers)
    horizon, stride = rate, max(1, rate // 10)
    stats = quantile_stats(eps)
    index, raw, full = windows(eps, horizon, stride)
    fit_on = raw[full] if full.any() else raw
    procs = {k: VLAProcessor.from_stats(stats, k, horizon, fit_on if k == "fast" else None, scale=fast_scale,
                                        fast_vocab=fast_vocab) for k in KINDS}
    p = procs["fast"]
    action = torch.as_tensor(p.action_norm.transform(raw), dtype=torch.float32)  # (N, H, D)
    state = torch.as_tensor(p.state_norm.transform(np.stack([eps[k]["state"][t] for k, t in index]).astype(np.float64)),
                            dtype=torch.float32)
    tasks = [eps[k]["task"] for k, _ in index]
    pool = {"rate": rate, "horizon": horizon, "stride": stride, "image_size": image_size, "episodes": len(eps),
            "image": torch.from_numpy(np.stack([eps[k]["image"][t] for k, t in index])).permute(0, 3, 1, 2),
            "state": state, "action": action, "prefix_ids": p.encode_prefix(tasks, state),
            "processors": {k: v.to_dict() for k, v in procs.items()}}
    for k in ("fast", "binning"):
        seqs = procs[k].encode_actions(action)
        pool[f"postfix_{k}"] = pad_postfix(seqs)
        pool[f"lengths_{k}"] = np.array([len(s) - 2 for s in seqs])
    return pool


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=int, nargs="+", default=[10, 25, 50, 100])
    ap.add_argument("--episodes", type=int, default=400)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=1, help="processes rolling out the expert")
    ap.add_argument("--out", type=Path, default=Path("runs/vla_sweep/pools"))
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    for rate in a.rates:
        t0 = time.perf_counter()
        pool = build_pool(rate, a.episodes, a.image_size, workers=a.workers)
        torch.save(pool, a.out / f"pool_{rate}hz.pt")
        lf, lb = pool["lengths_fast"], pool["lengths_binning"]
        print(f"{rate:>3} Hz: {pool['episodes']} demos, {len(pool['action'])} windows (H={pool['horizon']}), "
              f"FAST tokens/chunk mean {lf.mean():.1f} p99 {np.percentile(lf, 99):.0f} max {lf.max()}, "
              f"binning {lb[0]}, {time.perf_counter() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
