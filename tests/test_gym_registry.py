"""Every environment litlab ships is a registered Gymnasium id that passes `check_env` without warnings."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import litlab.rl.envs as rl_envs
import litlab.robotics.sims as robotics_sims

SHIPPED = sorted({**rl_envs.GYM_IDS, **robotics_sims.GYM_IDS})


def test_every_litlab_id_is_shipped():
    registered = sorted(i for i in gym.registry if i.startswith("litlab/"))
    assert registered == SHIPPED


@pytest.mark.parametrize("env_id", SHIPPED)
def test_check_env_passes_without_warnings(env_id):
    env = gym.make(env_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    gym_warnings = [str(w.message) for w in caught if "gymnasium" in w.filename]
    assert gym_warnings == []
    env.close()


def test_pointmass_follows_the_gymnasium_conventions():
    env = gym.make("litlab/PointMass2D-v0", render_mode="rgb_array")
    assert env.spec.max_episode_steps == 150
    assert env.metadata["render_fps"] == 50
    np.testing.assert_array_equal(env.action_space.low, [-1.0, -1.0])
    np.testing.assert_array_equal(env.action_space.high, [1.0, 1.0])
    obs, _ = env.reset(seed=3)
    frame = env.render()
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    np.testing.assert_array_equal(frame, obs["image"])
    start = env.unwrapped.position.copy()
    env.step(np.array([1.0, 0.0], dtype=np.float32))  # full speed: max_speed * dt along x
    moved = env.unwrapped.position - start
    assert moved[1] == 0.0 and moved[0] == pytest.approx(min(2.0 / 50, 1.0 - start[0]))
    plain = gym.make("litlab/PointMass2D-v0")
    plain.reset(seed=3)
    assert plain.render() is None


def test_pointmass_time_limit_comes_from_the_spec():
    env = gym.make("litlab/PointMass2D-v0", max_seconds=100.0)  # the env itself would run 5000 steps
    env.reset(seed=0)
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated) and steps < 200:
        *_, terminated, truncated, _ = env.step(np.zeros(2, dtype=np.float32) + 0.01)
        steps += 1
    assert truncated and steps == 150


def test_render_mode_is_checked():
    with pytest.raises(ValueError, match="render_mode"):
        gym.make("litlab/PointMass2D-v0", render_mode="ansi")
    with pytest.raises(ValueError, match="render_mode"):
        gym.make("litlab/DarkRoomTiny-v0", render_mode="rgb_array")
