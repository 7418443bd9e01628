"""Rollout decoding speed of the in-context agent's backbones against the context length (no Lightning).

One `Backbone.step` per environment step for B parallel environments, after a context of L tokens:
- lightning: the context is a fixed-size state [B, H, d, d] per layer, built here by a real `prefill` of
  L random tokens; a step costs the same for every L;
- softmax, full KV cache: the cache holds all L keys/values (ALiBi needs no position table, so the
  cache can grow past any training length); a step reads L keys per layer;
- softmax, sliding window W: the cache keeps the last W - 1 positions (the recipe's rollout setting).
The softmax caches are filled with random keys/values through `KVCache.append` (a step's cost depends
on the cache's size only; a real prefill of 64K tokens would cost minutes). Reported: env steps/s =
B / (median time of one step), medians of `reps` timings of `steps` steps each, bf16 autocast on GPU.

    python benchmarks/rl/icrl_speed.py --lengths 256 1024 4096 16384 65536 --out speed.json
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext

import numpy as np
import torch

from litlab.attention import Backbone
from litlab.attention.layers.kv_cache import KVCache

VARIANTS = {
    "lightning": {"pattern": "L"},
    "softmax_full_kv": {"pattern": "S", "position": "alibi", "qk_norm": True},
    "softmax_window": {"pattern": "S", "position": "alibi", "qk_norm": True, "window": 80},
}


def filled_state(model: Backbone, batch: int, length: int, device: torch.device):
    """A decoding state after `length` tokens: prefilled (lightning) or random keys/values (softmax)."""
    state = model.init_state(batch)
    cfg = model.config
    if all(not isinstance(s, KVCache) for s in state.layers):
        for lo in range(0, length, 4096):
            x = torch.randn(batch, min(4096, length - lo), cfg.dim, device=device)
            _, state = model.prefill(x, state)
        return state
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    for cache in state.layers:
        for lo in range(0, length, 4096):
            n = min(4096, length - lo)
            k = torch.randn(batch, cache.shape[1], n, cache.shape[3], device=device, dtype=dtype)
            cache.append(k, torch.randn_like(k))
    state.length = length
    return state


@torch.no_grad()
def steps_per_s(model: Backbone, batch: int, length: int, steps: int, reps: int, device: torch.device) -> float:
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    with amp:
        state = filled_state(model, batch, length, device)
        x = torch.randn(batch, model.config.dim, device=device)
        for _ in range(3):  # warm-up (kernel compilation, allocator)
            _, state = model.step(x, state)
        for _ in range(reps):
            sync()
            t0 = time.perf_counter()
            for _ in range(steps):
                _, state = model.step(x, state)
            sync()
            times.append((time.perf_counter() - t0) / steps)
    return batch / float(np.median(times))


def run(lengths: list[int], batch: int, dim: int, layers: int, heads: int, steps: int, reps: int,
        device: torch.device) -> dict:  # fmt: skip
    out = {"batch": batch, "dim": dim, "layers": layers, "heads": heads, "lengths": lengths, "steps_per_s": {}}
    for name, kw in VARIANTS.items():
        torch.manual_seed(0)
        model = Backbone(dim, layers, heads, dim // heads, **kw).to(device).eval()
        out["steps_per_s"][name] = [steps_per_s(model, batch, n, steps, reps, device) for n in lengths]
        print(name, [f"{v:.0f}" for v in out["steps_per_s"][name]], flush=True)
        del model
        torch.cuda.empty_cache() if device.type == "cuda" else None
    return out


def plot(res: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, vals in res["steps_per_s"].items():
        ax.plot(res["lengths"], vals, marker="o", label=name)
    ax.set(xscale="log", yscale="log", xlabel="tokens in context", ylabel="env steps / s",
           title=f"rollout decoding, {res['batch']} envs, {res.get('card', '')}")  # fmt: skip
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096, 16384, 65536])
    p.add_argument("--batch", type=int, default=64, help="parallel environments")
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--out", default="icrl_speed.json")
    a = p.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    res = run(a.lengths, a.batch, a.dim, a.layers, a.heads, a.steps, a.reps, dev)
    res["card"] = torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"
    json.dump(res, open(a.out, "w"), indent=1)
    plot(res, a.out.replace(".json", ".png"))


if __name__ == "__main__":
    main()
