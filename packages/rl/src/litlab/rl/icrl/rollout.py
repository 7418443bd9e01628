"""Cold-start in-context rollouts (Vintix, arXiv 2501.19400, Sec. 3.3; AD, arXiv 2210.14215, Sec. 4).

Many held-out tasks x seeds run at once in a `VecGridWorld`. The context starts empty (no prompt, no task
id); each environment step appends a token (o_t, a_{t-1}, r_{t-1}) (stacked) or three tokens o_t, a_t, r_t
(interleaved) through `Backbone.step`, so a lightning backbone costs O(1) per step for any number of
episodes; a softmax backbone keeps a KV cache (sliding, if its config sets a window). Actions are greedy.
Episodes never reset the context: the agent sees its own previous episodes ("shots").
"""

from __future__ import annotations

import time
from contextlib import nullcontext

import numpy as np
import torch

from litlab.rl.envs.grid import VecGridWorld, get_spec, oracle_returns, random_returns


@torch.no_grad()
def in_context_rollout(agent, group: str, family: str, tasks: list[int], episodes: int, seeds: int = 1,
                       seed: int = 0) -> dict:  # fmt: skip
    """Roll out `agent` (an `InContextAgent`) on tasks x seeds environments for `episodes` episodes each.

    Returns {"returns": [tasks, seeds, episodes], "normalized": same shape, "steps_per_s": env steps / s,
    "random": [tasks], "expert": [tasks]}; normalized = (R - R_random) / (R_expert - R_random).
    """
    spec = get_spec(family)
    task_ids = np.repeat(np.asarray(tasks, dtype=np.int64), seeds)
    env = VecGridWorld(spec, task_ids, seed=seed)
    n, dev = env.num_envs, agent.device
    io, backbone = agent.io[group], agent.backbone
    state = backbone.init_state(n)
    rets = np.full((n, episodes), np.nan)
    prev_act = torch.zeros(n, dtype=torch.long, device=dev)
    prev_rew = torch.zeros(n, device=dev)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else nullcontext()
    start, steps = time.perf_counter(), 0
    while (env.episode < episodes).any():
        obs = torch.as_tensor(env.obs(), device=dev)
        step_num = torch.as_tensor(env.t, device=dev)
        with amp:
            if io.tokens == "stacked":
                x = io.encode(obs[:, None], prev_act[:, None], prev_rew[:, None], step_num[:, None])[:, 0]
                h, state = backbone.step(x, state)
            else:
                h, state = backbone.step(io.obs_token(obs), state)
            act = io.decode(h).float().argmax(-1)
        _, rew, done, ret = env.step(act.cpu().numpy())
        steps += 1
        if io.tokens == "interleaved":
            with amp:
                _, state = backbone.step(io.act_token(act), state)
                _, state = backbone.step(io.rew_token(torch.as_tensor(rew, device=dev)), state)
        ep = env.episode - done  # the episode that just ended, where done
        for i in np.flatnonzero(done & (ep < episodes)):
            rets[i, ep[i]] = ret[i]
        prev_act, prev_rew = act, torch.as_tensor(rew, device=dev, dtype=torch.float32)
    elapsed = time.perf_counter() - start
    rand = random_returns(spec, np.asarray(tasks), 100, seed)
    expert = oracle_returns(spec, np.asarray(tasks), 10, seed)
    r = rets.reshape(len(tasks), seeds, episodes)
    norm = (r - rand[:, None, None]) / np.maximum(expert - rand, 1e-8)[:, None, None]
    return {"returns": r, "normalized": norm, "steps_per_s": steps * n / elapsed, "random": rand, "expert": expert}
