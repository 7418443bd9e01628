"""Batched evaluation rollouts: ``num_episodes`` environments stepped in lock-step, one episode each.

The policy is called once per step on the observations of the still-running episodes, so an evaluation
of E episodes costs about max-episode-length policy calls instead of E times as many.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def evaluate_episodes(
    env_id: str,
    policy: Callable[[np.ndarray], np.ndarray],
    num_episodes: int,
    seed: int = 0,
    max_episode_steps: int | None = None,
) -> np.ndarray:
    """Undiscounted returns (num_episodes,) of ``policy`` (batched numpy obs -> actions)."""
    import gymnasium as gym  # lazily: the GPU benchmark image imports litlab.rl without gymnasium

    if num_episodes < 1:
        raise ValueError(f"num_episodes must be >= 1, got {num_episodes}")
    kwargs = {} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}
    envs = [gym.make(env_id, **kwargs) for _ in range(num_episodes)]
    obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)])
    returns = np.zeros(num_episodes)
    running = np.ones(num_episodes, dtype=bool)
    while running.any():
        live = np.flatnonzero(running)
        actions = np.asarray(policy(obs[live]))
        for j, i in enumerate(live):
            obs[i], reward, terminated, truncated, _ = envs[i].step(actions[j])
            returns[i] += reward
            running[i] = not (terminated or truncated)
    for env in envs:
        env.close()
    return returns
