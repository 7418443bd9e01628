"""Noise-distillation schedules that turn a demonstrator into a learning history.

AD-epsilon (Zisman et al., arXiv 2312.12275, Sec. 4): over a history of N episodes of at most T steps,
with the nominal step index n = episode * T + t (an episode that ends early still advances the schedule
by T),

    eps(n) = max(eps_end, 1 - (1 - eps_end) * n / (0.9 * N * T)),

linear per step from 1 down to the floor eps_end, reached after 90% of the history. Each step takes a
uniform random action with probability eps(n), else the demonstrator's. The floor is eps_end itself; the
public Dark Room script floors at 1 minus a mapped value instead, which turns its "optimal" setting into
all-random data (its Key-to-Door script does it right, and so does this module).

Continuous noise distillation (Vintix, arXiv 2501.19400, Sec. 3.1): a = (1 - eps) pi_D(s) + eps u with
u ~ Uniform(a_min, a_max) and, over transition n of N,

    eps(n) = (1 - (n / ((1 - f) N))^p)^(1/p)  for n <= (1 - f) N,  0 after,

f the noise-free tail fraction and p the curvature (p = 1 linear, p > 1 keeps eps high for longer).
"""

from __future__ import annotations

import numpy as np


def ad_eps(n: np.ndarray, episodes: int, horizon: int, eps_end: float, decay_fraction: float = 0.9) -> np.ndarray:
    """AD-epsilon's eps(n) at nominal step indices n (float64, same shape)."""
    if not 0.0 <= eps_end <= 1.0:
        raise ValueError(f"eps_end must be in [0, 1], got {eps_end}")
    if episodes < 1 or horizon < 1:
        raise ValueError(f"episodes and horizon must be >= 1, got {episodes}, {horizon}")
    span = decay_fraction * episodes * horizon
    return np.maximum(eps_end, 1.0 - (1.0 - eps_end) * np.asarray(n, dtype=np.float64) / span)


def continuous_noise(n: np.ndarray, total: int, tail_fraction: float = 0.05, power: float = 1.0) -> np.ndarray:
    """Vintix's continuous-noise eps(n) at transition indices n of a history of `total` transitions."""
    if not 0.0 <= tail_fraction < 1.0 or power <= 0:
        raise ValueError(f"need 0 <= tail_fraction < 1 and power > 0, got {tail_fraction}, {power}")
    x = np.asarray(n, dtype=np.float64) / ((1.0 - tail_fraction) * total)
    return np.where(x <= 1.0, np.clip(1.0 - np.clip(x, 0, 1) ** power, 0.0, 1.0) ** (1.0 / power), 0.0)


def mix_continuous(demo: np.ndarray, uniform: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """a = (1 - eps) a_D + eps u, with eps broadcast over the action dims."""
    eps = np.asarray(eps)[..., None]
    return (1.0 - eps) * demo + eps * uniform
