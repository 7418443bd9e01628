"""Closed-loop evaluation of a VLA policy in batched PointMass2D environments.

Success rate over seeded held-out episodes with a Wilson score interval (Wilson 1927):

    centre = (p + z^2 / 2n) / (1 + z^2 / n),  half = z sqrt(p (1 - p) / n + z^2 / 4n^2) / (1 + z^2 / n)

with p = k / n and z = 1.96 for 95%. The environments step in lock step; each keeps its own seed and
stops being stepped once it succeeds or times out. Every ``n_action_steps`` steps the policy plans a new
chunk for the whole batch (``select_action`` refills its queue); the time of each plan is the per-chunk
latency (CUDA-synchronized).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from litlab.robotics.vla.batching import postprocess_actions, preprocess_observation

__all__ = ["wilson_interval", "evaluate_closed_loop", "save_rollout_strip", "TEST_SEED_OFFSET", "VAL_SEED_OFFSET"]

VAL_SEED_OFFSET = 1_000_000  # the demonstration generator's validation seeds
TEST_SEED_OFFSET = 2_000_000  # never used for demonstrations: closed-loop test episodes


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% (z = 1.96) Wilson score interval of a binomial proportion; (0, 1) for n = 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def evaluate_closed_loop(policy, seeds, control_hz: int, image_size: int, record: int = 0) -> dict:
    """Run one episode per seed (all at once). Returns per-episode ``success``/``return``/``steps``/
    ``final_distance`` arrays, ``chunk_latency_s`` (one per plan), decode counts of the token arms, and
    ``frames`` (the first ``record`` episodes' images, [T, S, S, 3] each)."""
    from litlab.robotics.sims.pointmass2d import PointMass2DEnv

    seeds = [int(s) for s in seeds]
    device = next(policy.parameters()).device
    envs = [PointMass2DEnv(control_hz=control_hz, image_size=image_size) for _ in seeds]
    obs = [env.reset(seed=s) for env, s in zip(envs, seeds)]
    images = np.stack([o["image"] for o, _ in obs])
    tasks = [info["instruction"] for _, info in obs]
    active = np.ones(len(envs), bool)
    success, steps = np.zeros(len(envs), bool), np.zeros(len(envs), int)
    frames = [[images[i]] for i in range(min(record, len(envs)))]
    latency, valid, tokens, chunks = [], 0, [], 0
    policy.reset()
    while active.any():
        states = np.stack([env.position for env in envs])
        batch = preprocess_observation(policy.processor, images, states, tasks, device)
        planning = not policy._queue
        _sync(device)
        t0 = time.perf_counter()
        action = postprocess_actions(policy.processor, policy.select_action(batch))
        if planning:
            _sync(device)
            latency.append(time.perf_counter() - t0)
            dec = getattr(policy, "last_decode", None)
            if dec is not None:
                chunks += int(active.sum())
                valid += int(dec.valid[torch.from_numpy(active)].sum())
                tokens += dec.lengths[torch.from_numpy(active)].tolist()
        for i in np.flatnonzero(active):
            o, _, terminated, truncated, _ = envs[i].step(action[i])
            images[i], steps[i] = o["image"], steps[i] + 1
            success[i] |= terminated
            active[i] = not (terminated or truncated)
            if i < len(frames):
                frames[i].append(o["image"])
    dist = np.array([np.linalg.norm(env.position - env.goal) for env in envs])
    return {"seeds": np.array(seeds), "success": success, "return": success.astype(float), "steps": steps,
            "final_distance": dist, "chunk_latency_s": np.array(latency), "chunks": chunks,
            "strict_valid_chunks": valid, "tokens_per_chunk": np.array(tokens, dtype=float),
            "frames": [np.stack(f) for f in frames]}


def save_rollout_strip(frames: np.ndarray, path: str | Path, n: int = 8, scale: int = 2, caption: str = "") -> Path:
    """Save ``n`` evenly spaced frames of one episode ([T, S, S, 3] uint8) side by side as a PNG."""
    from PIL import Image, ImageDraw

    idx = np.linspace(0, len(frames) - 1, min(n, len(frames))).round().astype(int)
    strip = np.concatenate([np.pad(frames[i], ((0, 0), (0, 2), (0, 0)), constant_values=255) for i in idx], 1)
    img = Image.fromarray(strip).resize((strip.shape[1] * scale, strip.shape[0] * scale), Image.NEAREST)
    if caption:
        canvas = Image.new("RGB", (img.width, img.height + 14), "white")
        canvas.paste(img, (0, 14))
        ImageDraw.Draw(canvas).text((2, 1), caption, fill="black")
        img = canvas
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
