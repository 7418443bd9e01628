"""Scripted minimum-jerk expert for PointMass2D and the demonstration generator.

The expert plans a minimum-jerk path (Flash & Hogan 1985: ``s(tau) = 10 tau^3 - 15 tau^4 + 6 tau^5``)
from the start to the instructed target, bent by a sideways bump ``b sin(pi s)`` for curvature; both
vanish in velocity at the ends, so the motion is smooth and ends at rest. The action is the planned
velocity over the next step plus a proportional correction towards the plan, so it also works when
exploration noise is executed (DART-style, Laskey et al. arXiv 1703.09327: the *clean* action is
recorded while the noisy one is executed).
"""

from __future__ import annotations

import numpy as np

from litlab.robotics.sims.pointmass2d import PointMass2DEnv

__all__ = ["MinimumJerkExpert", "rollout_expert"]


def _min_jerk(tau: np.ndarray) -> np.ndarray:
    tau = np.clip(tau, 0.0, 1.0)
    return tau**3 * (10 - 15 * tau + 6 * tau**2)


class MinimumJerkExpert:
    """Closed-loop minimum-jerk expert.

    Args:
        env: the environment (read for dt, speed limit, start and goal after ``reset``).
        rng: randomness for the duration and the curvature of the plan.
        peak_fraction: planned peak speed as a fraction of ``env.max_speed``.
    """

    def __init__(self, env: PointMass2DEnv, rng: np.random.Generator, peak_fraction: float = 0.6):
        self.env, self.rng, self.peak_fraction = env, rng, peak_fraction

    def plan(self):
        env = self.env
        self.start, self.goal = env.position.copy(), env.goal.copy()
        delta = self.goal - self.start
        dist = float(np.linalg.norm(delta))
        normal = np.array([-delta[1], delta[0]]) / max(dist, 1e-9)
        self.bump = normal * self.rng.uniform(-0.2, 0.2) * dist
        length = dist * (1 + 2 * np.linalg.norm(self.bump) / max(dist, 1e-9))
        duration = 1.875 * length / (self.peak_fraction * env.max_speed) * self.rng.uniform(1.0, 1.3)
        self.duration = float(np.clip(duration, 0.5, 0.8 * env.max_steps * env.dt))
        self.t = 0.0
        self.gain = min(5.0, 0.5 / env.dt)

    def _point(self, t: float) -> np.ndarray:
        s = _min_jerk(np.asarray(t / self.duration))
        return self.start + (self.goal - self.start) * s + self.bump * np.sin(np.pi * s)

    def act(self) -> np.ndarray:
        env = self.env
        p_now, p_next = self._point(self.t), self._point(self.t + env.dt)
        action = (p_next - p_now) / env.dt + self.gain * (p_now - env.position)
        self.t += env.dt
        return np.clip(action, -env.max_speed, env.max_speed)


def rollout_expert(env: PointMass2DEnv, seed: int, noise_std: float = 0.0) -> dict:
    """One seeded expert episode. Returns per-step arrays (observation before the action):
    ``state [T, 2]``, ``image [T, S, S, 3]``, ``action [T, 2]`` (clean expert action), ``success``,
    ``task`` and ``seed``. With ``noise_std > 0`` Gaussian noise is added to the *executed* action
    while the plan runs."""
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng([seed, 7])
    expert = MinimumJerkExpert(env, rng)
    expert.plan()
    states, images, actions = [], [], []
    success = terminated = truncated = False
    while not (terminated or truncated):
        action = expert.act()
        states.append(obs["state"])
        images.append(obs["image"])
        actions.append(action.astype(np.float32))
        moving = expert.t <= expert.duration  # noise only while the plan runs, so the robot can settle
        executed = action + (rng.normal(0, noise_std, 2) if noise_std > 0 and moving else 0.0)
        obs, _, terminated, truncated, info = env.step(executed)
        success = bool(terminated)
    return {
        "state": np.stack(states),
        "image": np.stack(images),
        "action": np.stack(actions),
        "success": success,
        "task": info["instruction"],
        "seed": seed,
    }
