"""The tokenization ceiling of the VLA control-rate sweep: closed-loop success of the *expert's* chunks
after a round trip through each arm's action tokenizer, with no model in the loop.

At every re-plan (every H/2 steps, as the TinyVLA policies do) the minimum-jerk expert is simulated
H steps ahead from the current state on a copy of the environment; that one-second chunk is normalized
(q01/q99 of the training demos), encoded and decoded strictly (FAST scale 10 / vocab 1024, or 256-bin
binning), unnormalized, and its first H/2 actions are executed. Success is PointMass2D's (within the
radius of the instructed target, at rest). What a policy could at best reach with these tokens, and
the tokens a chunk costs, per rate; a chunk that fails to decode strictly is counted and executed as
the zero fallback. ``--arm none`` executes the chunks unquantized.

    nice python benchmarks/robotics/vla_oracle.py --rates 10 25 50 100 --episodes 50
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import torch
from vla_pool import build_pool

from litlab.robotics.sims.expert import MinimumJerkExpert
from litlab.robotics.sims.pointmass2d import PointMass2DEnv
from litlab.robotics.vla.processor import VLAProcessor
from litlab.robotics.vla.rollout import TEST_SEED_OFFSET, wilson_interval


def expert_chunk(env: PointMass2DEnv, expert: MinimumJerkExpert, horizon: int) -> np.ndarray:
    """The expert's next ``horizon`` actions [H, 2], simulated on copies of the environment and expert."""
    env2, exp2 = copy.deepcopy((env, expert))
    out = []
    for _ in range(horizon):
        a = exp2.act()
        out.append(a)
        env2.position = np.clip(env2.position + np.clip(a, -env2.max_speed, env2.max_speed) * env2.dt, 0.0, 1.0)
    return np.stack(out)


def episode(seed: int, rate: int, proc: VLAProcessor | None) -> tuple[bool, list[int], int]:
    """One closed-loop episode; returns (success, tokens per chunk, strict decode failures)."""
    env = PointMass2DEnv(control_hz=rate)
    env.reset(seed=seed)
    expert = MinimumJerkExpert(env, np.random.default_rng([seed, 7]))
    expert.plan()
    horizon, n = rate, max(1, rate // 2)
    tokens, failures = [], 0
    while True:
        chunk = expert_chunk(env, expert, horizon)
        if proc is not None:
            norm = torch.as_tensor(proc.action_norm.transform(chunk.astype(np.float64)), dtype=torch.float32)[None]
            ids = torch.tensor(proc.encode_actions(norm)[0])[None]
            dec = proc.decode_actions(ids, "strict")
            tokens.append(int(dec.lengths[0]))
            failures += int(not dec.valid[0])
            chunk = proc.action_norm.inverse(dec.actions[0].double().numpy())
        for a in chunk[:n]:
            expert.act()  # keeps the expert's clock in step with the executed actions
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                return bool(terminated), tokens, failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=int, nargs="+", default=[10, 25, 50, 100])
    ap.add_argument("--arms", nargs="+", choices=["none", "fast", "binning"], default=["none", "fast", "binning"])
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--fit-demos", type=int, default=200, help="demos the statistics and FAST are fitted on")
    a = ap.parse_args()
    print("| rate (Hz) | H | tokens | success | Wilson 95% | tokens/chunk mean (max) | strict failures |")
    print("|---|---|---|---|---|---|---|")
    for rate in a.rates:
        procs = build_pool(rate, a.fit_demos, workers=1)["processors"]
        for arm in a.arms:
            proc = None if arm == "none" else VLAProcessor.from_dict(procs[arm])
            res = [episode(TEST_SEED_OFFSET + i, rate, proc) for i in range(a.episodes)]
            k = sum(r[0] for r in res)
            lo, hi = wilson_interval(k, len(res))
            toks = [t for r in res for t in r[1]]
            tok = f"{np.mean(toks):.1f} ({max(toks)})" if toks else "-"
            fail = f"{sum(r[2] for r in res) / max(1, len(toks)):.1%}" if toks else "-"
            print(f"| {rate} | {rate} | {arm} | {k / len(res):.2f} | [{lo:.2f}, {hi:.2f}] | {tok} | {fail} |",
                  flush=True)


if __name__ == "__main__":
    main()
