"""Gymnasium front-ends of the grid worlds (one task per env), registered as `litlab/DarkRoom-v0`,
`litlab/DarkRoomHard-v0`, `litlab/KeyToDoor-v0` and the CI variant `litlab/DarkRoomTiny-v0`.

The dynamics are those of `VecGridWorld` with one task; the episode ends by `terminated` (Dark Room Hard's
goal, Key-to-Door's door) or `truncated` (the horizon). The task is fixed by `task=` or drawn from the
`split=` ("train" / "test" / "all") at every reset; `reset(options={"task": i})` picks one explicitly.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from litlab.rl.envs.grid import NUM_ACTIONS, VecGridWorld, get_spec


class GridWorldEnv(gym.Env):
    """One grid-world task with the gymnasium API (Discrete observations and actions).

    Args:
        family: "darkroom", "darkroom_hard", "keydoor" or "darkroom_tiny".
        task: a fixed task id; None draws one from `split` at each reset.
        split: "train", "test" or "all", the pool `task=None` draws from.
        render_mode: None only (the grid worlds are not rendered); accepted for `gym.make`'s convention.
    """

    metadata = {"render_modes": []}

    def __init__(
        self, family: str = "darkroom", task: int | None = None, split: str = "train", render_mode: str | None = None
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"render_mode: the grid worlds have no render modes, expected None, got {render_mode!r}")
        self.render_mode = None
        self.grid = get_spec(family)
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        self.pool = np.arange(self.grid.num_tasks) if split == "all" else self.grid.split()[split]
        if task is not None and not 0 <= task < self.grid.num_tasks:
            raise ValueError(f"task must be in [0, {self.grid.num_tasks}), got {task}")
        self.fixed_task = task
        self.observation_space = spaces.Discrete(self.grid.num_cells)
        self.action_space = spaces.Discrete(NUM_ACTIONS)
        self._env: VecGridWorld | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        task = (options or {}).get("task", self.fixed_task)
        if task is None:
            task = int(self.np_random.choice(self.pool))
        self._env = VecGridWorld(self.grid, np.array([task]), seed=int(self.np_random.integers(2**31)))
        return int(self._env.obs()[0]), {"task": int(task)}

    def step(self, action):
        if self._env is None:
            raise RuntimeError("GridWorldEnv.step called before reset")
        t_before = int(self._env.t[0])
        _, reward, done, _ = self._env.step(np.array([int(action)]))
        truncated = bool(done[0]) and t_before + 1 >= self.grid.horizon
        terminated = bool(done[0]) and not truncated
        return int(self._env.final_obs[0]), float(reward[0]), terminated, truncated, {}

    def optimal_action(self) -> int:
        """The oracle's action in the current state."""
        if self._env is None:
            raise RuntimeError("GridWorldEnv.optimal_action called before reset")
        return int(self._env.oracle()[0])
