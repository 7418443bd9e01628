"""Grid worlds of Algorithm Distillation (arXiv 2210.14215, Sec. 5) and AD-epsilon (arXiv 2312.12275),
vectorized over many tasks at once in plain numpy.

Cells are (row, col) on a size x size grid; the observation is the agent's own cell, row * size + col
(the goal, key and door are invisible). Actions: 0 noop, 1 up (row - 1), 2 right (col + 1),
3 down (row + 1), 4 left (col - 1); moves into a wall leave the agent in place.

- Dark Room: r_t = 1 on every step that ends on the goal, no termination, reset to the centre.
- Dark Room Hard: r_t = 1 once, on the step that reaches the goal, which terminates the episode.
- Key-to-Door: r_t = 1 once on the key cell, then r_t = 1 on the door cell while holding the key, which
  terminates the episode; the agent spawns on a uniform random cell other than the key.

`VecGridWorld.step` auto-resets: an env whose episode ends (goal, door, or the horizon) starts its next
episode at once, and the returned observation is that episode's first one. Each env counts its own
episodes, so many tasks run in lockstep even where episodes end early.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MOVES = np.array([[0, 0], [-1, 0], [0, 1], [1, 0], [0, -1]], dtype=np.int64)  # noop, up, right, down, left
NUM_ACTIONS = 5


@dataclass(frozen=True)
class GridSpec:
    """One grid-world family: its size, horizon, reward rule and task split."""

    name: str
    size: int
    horizon: int
    kind: str  # "darkroom" | "darkroom_hard" | "keydoor"
    num_train: int
    num_test: int
    split_seed: int = 0

    @property
    def num_cells(self) -> int:
        return self.size * self.size

    @property
    def num_tasks(self) -> int:
        """All tasks: goals (Dark Room) or (key, door) pairs (Key-to-Door)."""
        return self.num_cells**2 if self.kind == "keydoor" else self.num_cells

    def task_cells(self, tasks: np.ndarray) -> np.ndarray:
        """Task ids [N] -> target cells [N, 2, 2] (goal, goal) or (key, door) as (row, col)."""
        tasks = np.asarray(tasks, dtype=np.int64)
        if tasks.size and (tasks.min() < 0 or tasks.max() >= self.num_tasks):
            lo, hi = tasks.min(), tasks.max()
            raise ValueError(f"{self.name}: task ids must be in [0, {self.num_tasks}), got {lo}..{hi}")
        first, second = (tasks // self.num_cells, tasks % self.num_cells) if self.kind == "keydoor" else (tasks, tasks)
        cells = np.stack([first, second], axis=1)  # (N, 2) cell indices
        return np.stack([cells // self.size, cells % self.size], axis=-1)  # (N, 2, 2)

    def split(self) -> dict[str, np.ndarray]:
        """The fixed seeded train / test split of task ids (a permutation of all tasks)."""
        perm = np.random.default_rng(self.split_seed).permutation(self.num_tasks)
        if self.num_train + self.num_test > self.num_tasks:
            raise ValueError(f"{self.name}: split {self.num_train}+{self.num_test} exceeds {self.num_tasks} tasks")
        test = perm[self.num_train : self.num_train + self.num_test]
        return {"train": np.sort(perm[: self.num_train]), "test": np.sort(test)}


SPECS: dict[str, GridSpec] = {
    "darkroom": GridSpec("darkroom", 9, 20, "darkroom", 65, 16),
    "darkroom_hard": GridSpec("darkroom_hard", 17, 20, "darkroom_hard", 231, 58),
    "keydoor": GridSpec("keydoor", 9, 40, "keydoor", 1000, 50),
    "darkroom_tiny": GridSpec("darkroom_tiny", 5, 10, "darkroom", 20, 5),  # CI variant
}


def get_spec(name: str) -> GridSpec:
    if name not in SPECS:
        raise ValueError(f"unknown grid world {name!r}; expected one of {sorted(SPECS)}")
    return SPECS[name]


def oracle_actions(pos: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The demonstrator: move vertically, then horizontally toward target; noop on it. pos, target [N, 2]."""
    dr, dc = target[:, 0] - pos[:, 0], target[:, 1] - pos[:, 1]
    act = np.zeros(len(pos), dtype=np.int64)
    act[dc > 0], act[dc < 0] = 2, 4
    vertical = dr != 0
    act[vertical] = np.where(dr[vertical] < 0, 1, 3)
    return act


class VecGridWorld:
    """N tasks of one grid family stepped in lockstep with auto-reset.

    Args:
        spec: the family (`SPECS[name]`).
        tasks: task ids [N] (goal cells, or key * cells + door for Key-to-Door).
        seed: seed of the spawn positions (Key-to-Door only; Dark Room starts at the centre).
    """

    def __init__(self, spec: GridSpec, tasks: np.ndarray, seed: int = 0) -> None:
        self.spec = spec
        self.tasks = np.asarray(tasks, dtype=np.int64).reshape(-1)
        if self.tasks.size == 0:
            raise ValueError("VecGridWorld: tasks is empty, expected at least one task id")
        cells = spec.task_cells(self.tasks)
        self.first, self.second = cells[:, 0], cells[:, 1]  # goal/goal or key/door, (N, 2)
        self.rng = np.random.default_rng(seed)
        n = len(self.tasks)
        self.pos = np.zeros((n, 2), dtype=np.int64)
        self.t = np.zeros(n, dtype=np.int64)  # step within the episode
        self.episode = np.zeros(n, dtype=np.int64)  # finished episodes
        self.has_key = np.zeros(n, dtype=bool)
        self.ret = np.zeros(n, dtype=np.float64)  # return of the running episode
        self._reset(np.ones(n, dtype=bool))

    @property
    def num_envs(self) -> int:
        return len(self.tasks)

    def obs(self) -> np.ndarray:
        """Current observations [N]: the agent's cell index."""
        return self.pos[:, 0] * self.spec.size + self.pos[:, 1]

    def _reset(self, mask: np.ndarray) -> None:
        if not mask.any():
            return
        size = self.spec.size
        if self.spec.kind == "keydoor":  # uniform over the cells other than the key
            key_cell = self.first[mask, 0] * size + self.first[mask, 1]
            cell = self.rng.integers(0, size * size - 1, size=int(mask.sum()))
            cell = cell + (cell >= key_cell)
            self.pos[mask] = np.stack([cell // size, cell % size], axis=1)
        else:
            self.pos[mask] = size // 2
        self.t[mask], self.has_key[mask], self.ret[mask] = 0, False, 0.0

    def target(self) -> np.ndarray:
        """The demonstrator's current target [N, 2]: the goal, or the key until it is held, then the door."""
        return np.where(self.has_key[:, None], self.second, self.first)

    def oracle(self) -> np.ndarray:
        """Optimal actions [N] in the current state."""
        return oracle_actions(self.pos, self.target())

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Apply actions [N] in {0..4}. Returns (next obs [N], reward [N], episode_done [N], episode_return [N]).

        Where episode_done is True the env was reset and next obs is the new episode's first observation;
        episode_return is the finished episode's return there (0 elsewhere); `self.final_obs` keeps the cells
        reached before the reset."""
        actions = np.asarray(actions, dtype=np.int64)
        if actions.shape != (self.num_envs,) or actions.min() < 0 or actions.max() >= NUM_ACTIONS:
            raise ValueError(f"actions must be ints in [0, {NUM_ACTIONS}) of shape ({self.num_envs},), got {actions!r}")
        self.pos = np.clip(self.pos + MOVES[actions], 0, self.spec.size - 1)
        reward, terminated = self._reward()
        self.t += 1
        self.ret += reward
        done = terminated | (self.t >= self.spec.horizon)
        finished = np.where(done, self.ret, 0.0)
        self.final_obs = self.obs()  # the cells reached, before any reset
        self.episode += done
        self._reset(done)
        return self.obs(), reward, done, finished

    def _reward(self) -> tuple[np.ndarray, np.ndarray]:
        on_first = (self.pos == self.first).all(1)
        if self.spec.kind == "darkroom":
            return on_first.astype(np.float64), np.zeros(self.num_envs, dtype=bool)
        if self.spec.kind == "darkroom_hard":
            return on_first.astype(np.float64), on_first
        got_key = on_first & ~self.has_key
        opened = (self.pos == self.second).all(1) & self.has_key
        self.has_key |= got_key
        return (got_key | opened).astype(np.float64), opened


def oracle_returns(spec: GridSpec, tasks: np.ndarray, episodes: int = 1, seed: int = 0) -> np.ndarray:
    """Mean return of the oracle per task [N] over `episodes` episodes."""
    env = VecGridWorld(spec, tasks, seed)
    return _run(env, lambda e: e.oracle(), episodes)


def random_returns(spec: GridSpec, tasks: np.ndarray, episodes: int = 100, seed: int = 0) -> np.ndarray:
    """Mean return of the uniform random policy per task [N] over `episodes` episodes."""
    env = VecGridWorld(spec, tasks, seed)
    rng = np.random.default_rng(seed + 1)
    return _run(env, lambda e: rng.integers(0, NUM_ACTIONS, e.num_envs), episodes)


def _run(env: VecGridWorld, policy, episodes: int) -> np.ndarray:
    total = np.zeros(env.num_envs)
    while (env.episode < episodes).any():
        active = env.episode < episodes
        _, _, done, finished = env.step(policy(env))
        total += np.where(active & done, finished, 0.0)
    return total / episodes
