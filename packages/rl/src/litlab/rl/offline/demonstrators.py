"""Soft Actor-Critic demonstrators (stable-baselines3) for D4RL-style datasets (arXiv 2004.07219).

D4RL builds its MuJoCo datasets from one SAC run per task: ``expert`` from the final policy, ``medium``
from a checkpoint at about a third of the expert's return, ``medium-replay`` from the replay buffer up to
that checkpoint and ``random`` from a uniform policy. ``train_sac`` runs SAC once, keeps actor snapshots
every ``checkpoint_every`` steps together with the mean return of the last training episodes, and returns
the replay buffer as D4RL transitions. stable-baselines3 is an optional dependency (``litlab-rl[generate]``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch


@dataclass
class SACRun:
    """The outcome of one SAC run: actor snapshots by step, their training returns, the buffer."""

    snapshots: dict[int, torch.nn.Module] = field(default_factory=dict)
    returns: dict[int, float] = field(default_factory=dict)
    buffer: dict[str, np.ndarray] = field(default_factory=dict)


def _require_sb3():
    try:
        import stable_baselines3
    except ImportError:
        raise ImportError("generating datasets needs stable-baselines3: pip install 'litlab-rl[generate]'") from None
    return stable_baselines3


def train_sac(
    env_id: str,
    total_steps: int,
    checkpoint_every: int,
    seed: int = 0,
    learning_starts: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> SACRun:
    """Train SB3 SAC (256x256, batch 256, auto entropy) and keep actor snapshots along the way."""
    sb3 = _require_sb3()
    from stable_baselines3.common.callbacks import BaseCallback

    env = gym.make(env_id)
    if not (np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)):
        raise ValueError(f"env {env_id!r}: expected a [-1, 1] action box, got {env.action_space}")
    model = sb3.SAC("MlpPolicy", env, buffer_size=total_steps, learning_starts=learning_starts, seed=seed, device="cpu")
    run = SACRun()

    class Snapshot(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % checkpoint_every == 0:
                recent = [ep["r"] for ep in list(model.ep_info_buffer)[-10:]]
                run.snapshots[self.num_timesteps] = copy.deepcopy(model.policy.actor).eval()
                run.returns[self.num_timesteps] = float(np.mean(recent)) if recent else float("nan")
            if progress is not None and self.num_timesteps % 100 == 0:
                progress(self.num_timesteps)
            return True

    model.learn(total_timesteps=total_steps, callback=Snapshot())
    rb = model.replay_buffer
    n = rb.pos if not rb.full else rb.buffer_size
    dones = rb.dones[:n, 0].astype(bool)
    timeouts = rb.timeouts[:n, 0].astype(bool)
    run.buffer = {
        "observations": rb.observations[:n, 0],
        "actions": rb.actions[:n, 0],
        "rewards": rb.rewards[:n, 0],
        "terminals": dones & ~timeouts,
        "timeouts": timeouts,
        "next_observations": rb.next_observations[:n, 0],
    }
    env.close()
    return run


def actor_policy(actor: torch.nn.Module, deterministic: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap an SB3 SAC actor as a batched numpy policy (stochastic by default, as D4RL's data)."""

    @torch.no_grad()
    def act(obs: np.ndarray) -> np.ndarray:
        return actor(torch.as_tensor(obs, dtype=torch.float32), deterministic=deterministic).numpy()

    return act


def pick_medium(run: SACRun, random_return: float, fraction: float = 1 / 3, min_step: int = 0) -> int:
    """The snapshot step (after ``min_step``) whose training return is closest to
    ``random + fraction * (best - random)``."""
    steps = sorted(s for s, r in run.returns.items() if np.isfinite(r) and s > min_step)
    if not steps:
        raise ValueError("no SAC snapshot has a finished training episode; increase total_steps")
    best = max(run.returns[s] for s in steps)
    target = random_return + fraction * (best - random_return)
    return min(steps, key=lambda s: abs(run.returns[s] - target))


def pick_expert(run: SACRun) -> int:
    """The snapshot step with the highest training return (the best policy the budget produced)."""
    steps = [s for s, r in run.returns.items() if np.isfinite(r)]
    if not steps:
        raise ValueError("no SAC snapshot has a finished training episode; increase total_steps")
    return max(steps, key=lambda s: run.returns[s])
