"""Grid worlds against hand-worked transitions, the oracles' optimal returns and gymnasium's checker."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from litlab.rl.envs import GYM_IDS, SPECS, VecGridWorld, get_spec, oracle_actions, oracle_returns

NOOP, UP, RIGHT, DOWN, LEFT = range(5)


def cell(spec, r, c):
    return r * spec.size + c


def test_darkroom_hand_worked_transitions():
    spec = get_spec("darkroom")
    goal = cell(spec, 3, 5)  # centre is (4, 4): up, right reaches the goal
    env = VecGridWorld(spec, np.array([goal]))
    assert env.obs()[0] == cell(spec, 4, 4)
    obs, r, done, _ = env.step(np.array([UP]))
    assert (obs[0], r[0], done[0]) == (cell(spec, 3, 4), 0.0, False)
    obs, r, done, _ = env.step(np.array([RIGHT]))
    assert (obs[0], r[0]) == (goal, 1.0)
    obs, r, _, _ = env.step(np.array([NOOP]))  # reward on every step spent on the goal
    assert (obs[0], r[0]) == (goal, 1.0)
    obs, r, _, _ = env.step(np.array([LEFT]))
    assert (obs[0], r[0]) == (cell(spec, 3, 4), 0.0)
    for _ in range(16):  # steps 5..20; the 20th ends the episode and resets to the centre
        obs, r, done, ret = env.step(np.array([NOOP]))
    assert done[0] and ret[0] == 2.0 and obs[0] == cell(spec, 4, 4) and env.episode[0] == 1


def test_walls_keep_the_agent_in_place():
    spec = get_spec("darkroom")
    env = VecGridWorld(spec, np.array([0]))
    for _ in range(4):
        env.step(np.array([UP]))
    assert env.obs()[0] == cell(spec, 0, 4)
    obs, _, _, _ = env.step(np.array([UP]))
    assert obs[0] == cell(spec, 0, 4)


def test_darkroom_hard_pays_once_and_terminates():
    spec = get_spec("darkroom_hard")
    env = VecGridWorld(spec, np.array([cell(spec, 8, 9)]))  # centre (8, 8), goal one step right
    obs, r, done, ret = env.step(np.array([RIGHT]))
    assert r[0] == 1.0 and done[0] and ret[0] == 1.0 and obs[0] == cell(spec, 8, 8) and env.t[0] == 0


def test_keydoor_key_then_door():
    spec = get_spec("keydoor")
    key, door = cell(spec, 0, 0), cell(spec, 0, 2)
    env = VecGridWorld(spec, np.array([key * spec.num_cells + door]))
    env.pos[:] = [0, 1]
    _, r, done, _ = env.step(np.array([RIGHT]))  # onto the door without the key: nothing
    assert r[0] == 0.0 and not done[0]
    _, r, _, _ = env.step(np.array([LEFT]))
    _, r, done, _ = env.step(np.array([LEFT]))  # the key
    assert r[0] == 1.0 and not done[0] and env.has_key[0]
    _, r, _, _ = env.step(np.array([NOOP]))  # the key pays once
    assert r[0] == 0.0
    env.step(np.array([RIGHT]))
    _, r, done, ret = env.step(np.array([RIGHT]))
    assert r[0] == 1.0 and done[0] and ret[0] == 2.0 and not env.has_key[0]


def test_keydoor_spawn_avoids_the_key():
    spec = get_spec("keydoor")
    key = cell(spec, 2, 3)
    env = VecGridWorld(spec, np.full(4000, key * spec.num_cells + 7), seed=1)
    starts = env.obs()
    assert key not in starts and len(np.unique(starts)) == spec.num_cells - 1


def test_oracle_moves_vertically_first():
    pos = np.array([[4, 4], [4, 4], [2, 7], [4, 4]])
    target = np.array([[1, 7], [4, 1], [2, 7], [6, 4]])
    assert oracle_actions(pos, target).tolist() == [UP, LEFT, NOOP, DOWN]


def test_darkroom_oracle_return_is_21_minus_distance():
    spec = get_spec("darkroom")
    goals = np.arange(spec.num_cells)
    d = np.abs(goals // 9 - 4) + np.abs(goals % 9 - 4)
    expected = np.where(d == 0, 20, 21 - d)  # the goal is reached on step d and pays on steps d..20
    assert np.array_equal(oracle_returns(spec, goals, episodes=2), expected)
    assert abs(expected.mean() - 16.543) < 1e-3


@pytest.mark.parametrize("name, best", [("darkroom_hard", 1.0), ("keydoor", 2.0)])
def test_sparse_oracles_are_optimal(name, best):
    spec = get_spec(name)
    tasks = spec.split()["test"]
    assert np.all(oracle_returns(spec, tasks, episodes=3) == best)


def test_splits_match_the_papers():
    sizes = {n: (len(s.split()["train"]), len(s.split()["test"])) for n, s in SPECS.items()}
    assert sizes["darkroom"] == (65, 16) and sizes["keydoor"] == (1000, 50) and sizes["darkroom_hard"] == (231, 58)
    split = get_spec("darkroom").split()
    assert not set(split["train"]) & set(split["test"])


def test_bad_tasks_and_actions_are_refused():
    spec = get_spec("darkroom")
    with pytest.raises(ValueError, match="task ids must be in"):
        VecGridWorld(spec, np.array([81]))
    with pytest.raises(ValueError, match="tasks is empty"):
        VecGridWorld(spec, np.array([], dtype=int))
    with pytest.raises(ValueError, match="actions must be"):
        VecGridWorld(spec, np.array([3])).step(np.array([5]))


@pytest.mark.parametrize("env_id", sorted(GYM_IDS))
def test_gymnasium_ids_pass_check_env(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs) and "task" in info


def test_gym_env_ends_with_terminated_or_truncated():
    env = gym.make("litlab/DarkRoomHard-v0").unwrapped
    spec = env.grid
    obs, _ = env.reset(seed=0, options={"task": cell(spec, 7, 8)})
    obs, r, term, trunc, _ = env.step(env.optimal_action())
    assert (obs, r, term, trunc) == (cell(spec, 7, 8), 1.0, True, False)
    env = gym.make("litlab/DarkRoom-v0").unwrapped
    env.reset(seed=0)
    for _ in range(spec.horizon):
        _, _, term, trunc, _ = env.step(NOOP)
    assert trunc and not term
