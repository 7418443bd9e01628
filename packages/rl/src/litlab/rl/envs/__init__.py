"""Grid worlds (Dark Room, Dark Room Hard, Key-to-Door), vectorized in numpy and as gymnasium envs.

Importing this package registers the gymnasium ids `litlab/DarkRoom-v0`, `litlab/DarkRoomHard-v0`,
`litlab/KeyToDoor-v0` and `litlab/DarkRoomTiny-v0` (5x5, 10 steps: the CI variant).
"""

import gymnasium as gym

from litlab.rl.envs.grid import (
    NUM_ACTIONS,
    SPECS,
    GridSpec,
    VecGridWorld,
    get_spec,
    oracle_actions,
    oracle_returns,
    random_returns,
)
from litlab.rl.envs.gym_envs import GridWorldEnv

GYM_IDS = {
    "litlab/DarkRoom-v0": "darkroom",
    "litlab/DarkRoomHard-v0": "darkroom_hard",
    "litlab/KeyToDoor-v0": "keydoor",
    "litlab/DarkRoomTiny-v0": "darkroom_tiny",
}

for _id, _family in GYM_IDS.items():
    if _id not in gym.registry:
        gym.register(
            _id,
            entry_point="litlab.rl.envs.gym_envs:GridWorldEnv",
            kwargs={"family": _family},
            max_episode_steps=None,
        )

__all__ = [
    "GYM_IDS",
    "NUM_ACTIONS",
    "SPECS",
    "GridSpec",
    "GridWorldEnv",
    "VecGridWorld",
    "get_spec",
    "oracle_actions",
    "oracle_returns",
    "random_returns",
]
