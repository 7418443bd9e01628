"""PointMass2D: a pure-numpy 2-D reaching task with images and language, for FAST demonstrations.

A point robot in [0, 1]^2 and 3 coloured targets (out of 4 colours, so the instruction matters). The
action is the robot's 2-D velocity, clipped to ``max_speed``; the state is its position. An episode
succeeds when the robot is within ``success_radius`` of the instructed target and at rest
(``|action| < rest_speed``), and is truncated after ``max_seconds``. Observations are an RGB image
rasterized in numpy (no GL) and the state; the instruction is in ``info``. Gymnasium API.

With ``normalized_actions=True`` (the registered id ``litlab/PointMass2D-v0``) the action box is
[-1, 1]^2 and the velocity is ``action * max_speed``; the default keeps velocities in native units, as
the demonstrator and the stored datasets use them. ``render_mode="rgb_array"`` makes ``render()`` return
the observation image (``None`` without a render mode, the Gymnasium convention).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["PointMass2DEnv", "COLOURS", "TEMPLATES"]

COLOURS = {"red": (220, 50, 50), "green": (40, 170, 70), "blue": (50, 90, 220), "yellow": (235, 200, 40)}
TEMPLATES = ("move to the {colour} target", "go to the {colour} circle", "reach the {colour} goal")
_ROBOT_RGB, _BACKGROUND = (245, 245, 245), 30


class PointMass2DEnv(gym.Env):
    """Instruction-conditioned reaching with a point mass.

    Args:
        control_hz: control rate in Hz (10-100).
        image_size: side of the square RGB observation in pixels.
        n_targets: number of coloured targets (2-4).
        max_seconds: episode time limit.
        max_speed: velocity limit per axis (units of the unit square per second).
        success_radius: distance to the instructed target that counts as reached.
        rest_speed: the robot is at rest when its commanded speed is below this.
        templates: instruction templates with a ``{colour}`` field.
        normalized_actions: actions in [-1, 1] scaled by ``max_speed`` instead of native velocities.
        render_mode: None or "rgb_array".
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        control_hz: int = 50,
        image_size: int = 64,
        n_targets: int = 3,
        max_seconds: float = 3.0,
        max_speed: float = 2.0,
        success_radius: float = 0.05,
        rest_speed: float = 0.05,
        templates: tuple[str, ...] = TEMPLATES,
        normalized_actions: bool = False,
        render_mode: str | None = None,
    ):
        if not 10 <= control_hz <= 100:
            raise ValueError(f"control_hz must be in [10, 100], got {control_hz}")
        if not 2 <= n_targets <= len(COLOURS):
            raise ValueError(f"n_targets must be in [2, {len(COLOURS)}], got {n_targets}")
        if image_size < 16:
            raise ValueError(f"image_size must be >= 16, got {image_size}")
        if not templates or any("{colour}" not in t for t in templates):
            raise ValueError(f"every template needs a '{{colour}}' field, got {templates!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.metadata = {**self.metadata, "render_fps": control_hz}
        self.render_mode, self.normalized_actions = render_mode, bool(normalized_actions)
        self.control_hz, self.dt = control_hz, 1.0 / control_hz
        self.image_size, self.n_targets, self.templates = image_size, n_targets, tuple(templates)
        self.max_steps = int(round(max_seconds * control_hz))
        self.max_speed, self.success_radius, self.rest_speed = max_speed, success_radius, rest_speed
        bound = 1.0 if self.normalized_actions else max_speed
        self.action_space = spaces.Box(-bound, bound, (2,), dtype=np.float32)
        self.observation_space = spaces.Dict(
            {
                "image": spaces.Box(0, 255, (image_size, image_size, 3), dtype=np.uint8),
                "state": spaces.Box(0.0, 1.0, (2,), dtype=np.float32),
            }
        )
        grid = (np.arange(image_size) + 0.5) / image_size
        self._px, self._py = np.meshgrid(grid, 1.0 - grid)  # image row 0 is y = 1

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        names = list(rng.permutation(list(COLOURS))[: self.n_targets])
        points = self._separated_points(rng, self.n_targets + 1, min_dist=0.25)
        self.targets = {str(c): points[i] for i, c in enumerate(names)}
        self.position = points[-1].copy()
        self.goal_colour = str(names[rng.integers(self.n_targets)])
        self.instruction = self.templates[rng.integers(len(self.templates))].format(colour=self.goal_colour)
        self.steps, self.speed = 0, 0.0
        return self._obs(), self._info()

    @staticmethod
    def _separated_points(rng, n: int, min_dist: float) -> np.ndarray:
        for _ in range(1000):
            p = rng.uniform(0.1, 0.9, (n, 2))
            d = np.linalg.norm(p[:, None] - p[None], axis=-1) + np.eye(n)
            if d.min() >= min_dist:
                return p
        raise RuntimeError("could not place non-overlapping targets")

    @property
    def goal(self) -> np.ndarray:
        return self.targets[self.goal_colour]

    def step(self, action):
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (2,) or not np.isfinite(a).all():
            raise ValueError(f"action must be a finite 2-vector, got {action!r}")
        if self.normalized_actions:
            a = np.clip(a, -1.0, 1.0) * self.max_speed
        a = np.clip(a, -self.max_speed, self.max_speed)
        self.position = np.clip(self.position + a * self.dt, 0.0, 1.0)
        self.speed = float(np.linalg.norm(a))
        self.steps += 1
        success = self.is_success()
        truncated = self.steps >= self.max_steps and not success
        return self._obs(), float(success), success, truncated, self._info()

    def is_success(self) -> bool:
        near = np.linalg.norm(self.position - self.goal) <= self.success_radius
        return bool(near and self.speed < self.rest_speed)

    def _obs(self) -> dict:
        return {"image": self._draw(), "state": self.position.astype(np.float32)}

    def _info(self) -> dict:
        return {
            "instruction": self.instruction,
            "goal": self.goal.copy(),
            "goal_colour": self.goal_colour,
            "is_success": self.is_success(),
        }

    def render(self) -> np.ndarray | None:
        """The current frame [H, W, 3] uint8 in "rgb_array" mode; None without a render mode."""
        return self._draw() if self.render_mode == "rgb_array" else None

    def _draw(self) -> np.ndarray:
        img = np.full((self.image_size, self.image_size, 3), _BACKGROUND, dtype=np.uint8)
        for colour, (x, y) in self.targets.items():
            img[(self._px - x) ** 2 + (self._py - y) ** 2 <= 0.06**2] = COLOURS[colour]
        x, y = self.position
        img[(self._px - x) ** 2 + (self._py - y) ** 2 <= 0.035**2] = _ROBOT_RGB
        return img
