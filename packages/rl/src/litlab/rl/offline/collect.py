"""Rollouts of a policy in a batch of gymnasium environments, recorded as D4RL-style transitions.

``collect_transitions`` steps ``num_envs`` independent environments in lock-step, calls the policy once
per step on the stacked observations, and resets each environment on its own when its episode ends.
Each transition stores the true final observation as ``next_observations`` (not the reset observation),
``terminals`` (the MDP ended: no bootstrap) and ``timeouts`` (the time limit cut the episode).

The returned transitions are stored episode by episode: environment 0's transitions in time order, then
environment 1's, and so on (never interleaved across environments), and the episode each environment was
running when collection stopped ends with ``timeouts = True`` (it was cut off, like a time limit), so
every episode, including the last, ends on a flagged transition and ``terminals | timeouts`` splits the
stream into episodes.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np

Policy = Callable[[np.ndarray], np.ndarray]


def random_policy(action_space: gym.spaces.Box, seed: int) -> Policy:
    """A uniform random policy over ``action_space`` for a batch of observations."""
    rng = np.random.default_rng(seed)

    def act(obs: np.ndarray) -> np.ndarray:
        return rng.uniform(action_space.low, action_space.high, size=(len(obs), *action_space.shape))

    return act


def collect_transitions(
    env_id: str,
    policy: Policy,
    num_steps: int,
    num_envs: int = 8,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, np.ndarray], list[float]]:
    """Collect exactly ``num_steps`` transitions; return the arrays and the returns of finished episodes."""
    if num_steps <= 0 or num_envs <= 0:
        raise ValueError(f"num_steps and num_envs must be positive, got {num_steps} and {num_envs}")
    envs = [gym.make(env_id) for _ in range(num_envs)]
    obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)])
    buf: dict[str, list] = {k: [] for k in ("observations", "actions", "rewards", "terminals", "timeouts")}
    buf["next_observations"] = []
    ep_return = np.zeros(num_envs)
    returns: list[float] = []
    steps = 0
    while steps < num_steps:
        actions = np.asarray(policy(obs), dtype=np.float64)
        for i, env in enumerate(envs):
            if steps >= num_steps:
                break
            a = np.clip(actions[i], env.action_space.low, env.action_space.high)
            next_obs, reward, terminated, truncated, _ = env.step(a)
            for key, value in zip(
                buf, (obs[i], a, reward, terminated, truncated and not terminated, next_obs), strict=True
            ):
                buf[key].append(np.array(value, copy=True))  # obs[i] is a view: copy
            ep_return[i] += reward
            steps += 1
            if terminated or truncated:
                returns.append(float(ep_return[i]))
                ep_return[i] = 0.0
                next_obs, _ = env.reset()
            obs[i] = next_obs
        if progress is not None:
            progress(steps)
    for env in envs:
        env.close()
    arrays = {k: np.asarray(v) for k, v in buf.items()}
    return _episodes_contiguous(arrays, num_envs), returns


def _episodes_contiguous(arrays: dict[str, np.ndarray], num_envs: int) -> dict[str, np.ndarray]:
    """Reorder round-robin rows (row r came from env r % num_envs) env by env; flag each cut-off episode."""
    env_index = np.arange(len(arrays["rewards"])) % num_envs
    order = np.argsort(env_index, kind="stable")
    out, env_index = {k: v[order] for k, v in arrays.items()}, env_index[order]
    last = np.flatnonzero(np.r_[env_index[1:] != env_index[:-1], True])  # each env's final row
    out["timeouts"][last] |= ~out["terminals"][last]
    return out
