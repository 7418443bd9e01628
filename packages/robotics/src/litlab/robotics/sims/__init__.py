"""The PointMass2D simulator and its Gymnasium registration.

Importing this package (or ``litlab.robotics``) registers ``litlab/PointMass2D-v0``: normalized actions in
[-1, 1]^2, ``render_mode="rgb_array"`` and the 150-step (3 s at 50 Hz) time limit in the spec's
``max_episode_steps``. Without an import, ``gym.make("litlab.robotics.sims:litlab/PointMass2D-v0")``
imports it first.
"""

import gymnasium as gym

GYM_IDS = {"litlab/PointMass2D-v0": {"normalized_actions": True}}

for _id, _kwargs in GYM_IDS.items():
    if _id not in gym.registry:
        gym.register(
            _id,
            entry_point="litlab.robotics.sims.pointmass2d:PointMass2DEnv",
            kwargs=_kwargs,
            max_episode_steps=150,  # the env's own default: max_seconds 3.0 at control_hz 50
        )

__all__ = ["GYM_IDS"]
