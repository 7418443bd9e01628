"""litlab <-> Minari: the round trip returns the same transitions and episode ends, scores and dtypes map."""

import numpy as np
import pytest

from litlab.rl.offline.collect import _episodes_contiguous, collect_transitions, random_policy
from litlab.rl.offline.storage import OfflineMetadata, load_offline_dataset, save_offline_dataset

minari = pytest.importorskip("minari")
from litlab.rl.offline.minari_io import from_minari, from_minari_to_disk, split_episodes, to_minari  # noqa: E402


@pytest.fixture(scope="module")
def collected():
    import gymnasium as gym

    box = gym.make("Hopper-v5").action_space
    arrays, returns = collect_transitions("Hopper-v5", random_policy(box, 1), 150, num_envs=3, seed=5)
    return arrays, returns


@pytest.fixture
def minari_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    return tmp_path


def _meta(returns, **extra):
    return OfflineMetadata("Hopper-v5", "random", float(np.mean(returns)), 300.0, dict(extra))


def test_collect_stores_each_env_contiguously_and_flags_every_end(collected):
    arrays, returns = collected
    env_index = np.repeat([0, 1, 2], 50)  # 150 steps round robin over 3 envs, stored env by env
    assert len(arrays["rewards"]) == 150
    ends = arrays["terminals"] | arrays["timeouts"]
    last_rows = np.flatnonzero(np.r_[env_index[1:] != env_index[:-1], True])
    assert ends[last_rows].all()  # every environment's cut-off episode ends flagged
    assert len(returns) <= int(ends.sum()) <= len(returns) + 3  # finished episodes plus at most 3 cut-offs
    inside = ~ends[:-1]
    np.testing.assert_array_equal(arrays["next_observations"][:-1][inside], arrays["observations"][1:][inside])


def test_round_trip_returns_the_same_transitions_and_ends(tmp_path, minari_root, collected):
    arrays, returns = collected
    meta = _meta(returns, episode_layout="contiguous", num_envs=3)
    path = save_offline_dataset(tmp_path / "hopper-random-v5", arrays, meta)
    saved, _ = load_offline_dataset(path)
    dataset = to_minari(path, "litlab/hopper/random-v0")
    ends = saved["terminals"] | saved["timeouts"]
    assert dataset.total_episodes == int(ends.sum()) and dataset.total_steps == len(saved["rewards"])
    first = next(iter(dataset.iterate_episodes()))
    assert first.observations.dtype == np.float64  # the env's space, not litlab's float32
    assert bool(first.terminations[-1] or first.truncations[-1])

    back = from_minari_to_disk("litlab/hopper/random-v0", tmp_path / "back")
    loaded, meta_back = load_offline_dataset(back)
    for key, value in saved.items():
        np.testing.assert_array_equal(loaded[key], value, err_msg=key)
    assert (meta_back.env_id, meta_back.kind, meta_back.random_return) == ("Hopper-v5", "random", meta.random_return)
    assert meta_back.expert_return == 300.0 and meta_back.extra["episode_layout"] == "contiguous"

    ret = np.array([10.0, 150.0])  # Minari's score is litlab's / 100
    np.testing.assert_allclose(100.0 * minari.get_normalized_score(dataset, ret), meta.normalized_score(ret))


def test_round_robin_dataset_needs_num_envs_and_recovers_its_episodes(tmp_path, minari_root, collected):
    arrays, returns = collected
    legacy = {k: v.copy() for k, v in arrays.items()}
    env_index = np.repeat([0, 1, 2], 50)
    last_rows = np.flatnonzero(np.r_[env_index[1:] != env_index[:-1], True])
    legacy["timeouts"][last_rows] &= legacy["terminals"][last_rows]  # older data left the cut-offs unflagged
    step_in_env = np.arange(len(env_index)) - np.searchsorted(env_index, env_index)
    order = np.lexsort((env_index, step_in_env))  # round robin: row r is env r % 3
    interleaved = {k: v[order] for k, v in legacy.items()}
    path = save_offline_dataset(tmp_path / "legacy", interleaved, _meta(returns))
    with pytest.raises(ValueError, match="pass num_envs"):
        to_minari(path, "litlab/hopper/legacy-v0")
    with pytest.raises(ValueError, match="episode layout"):
        to_minari(path, "litlab/hopper/legacy-v1", num_envs=2)

    dataset = to_minari(path, "litlab/hopper/legacy-v2", num_envs=3)
    got, _ = from_minari(dataset)
    for key in ("observations", "actions", "rewards", "terminals", "next_observations"):
        assert got[key].dtype == (bool if key == "terminals" else np.float32), key
        np.testing.assert_array_equal(got[key], legacy[key].astype(got[key].dtype), err_msg=key)  # env by env again
    np.testing.assert_array_equal(got["timeouts"], arrays["timeouts"])  # the cut-offs are flagged now


def test_round_robin_rows_are_reordered_env_by_env():
    rows = np.arange(7)  # row r was produced by env r % 2
    arrays = {"rewards": rows.astype(np.float32), "terminals": rows == 2, "timeouts": np.zeros(7, dtype=bool)}
    out = _episodes_contiguous(arrays, num_envs=2)
    assert out["rewards"].tolist() == [0, 2, 4, 6, 1, 3, 5]
    assert out["terminals"].tolist() == [False, True, False, False, False, False, False]
    assert out["timeouts"].tolist() == [False, False, False, True, False, False, True]  # each env's cut-off


def test_split_episodes_flags_the_unflagged_last_row(tiny_arrays):
    arrays = tiny_arrays(n=6)
    arrays["terminals"][:] = [False, False, True, False, False, False]
    arrays["timeouts"][:] = False
    arrays["next_observations"][:-1] = arrays["observations"][1:]
    eps = split_episodes(arrays, OfflineMetadata("X", "k", 0.0, 1.0, {"episode_layout": "contiguous"}))
    assert [len(e["rewards"]) for e in eps] == [3, 3]
    assert [e["truncated_at_end"] for e in eps] == [False, True]


def test_a_dataset_minari_wrote_imports_with_its_reference_scores(minari_root):
    import gymnasium as gym
    from minari.data_collector import EpisodeBuffer

    env = gym.make("Pendulum-v1")
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(6, 3)).astype(np.float32)  # one 5-step episode cut by a time limit
    buf = EpisodeBuffer(id=0, observations=obs, actions=rng.uniform(-2, 2, (5, 1)).astype(np.float32),
                        rewards=[-1.0, -2.0, -3.0, -4.0, -5.0], terminations=[False] * 5,
                        truncations=[False] * 4 + [True])  # fmt: skip
    minari.create_dataset_from_buffers("ext/pendulum/test-v0", [buf], env=env, ref_min_score=-50.0, ref_max_score=-1.0,
                                      data_format="arrow")
    arrays, meta = from_minari("ext/pendulum/test-v0")
    np.testing.assert_array_equal(arrays["observations"], obs[:-1].astype(np.float32))
    np.testing.assert_array_equal(arrays["next_observations"], obs[1:].astype(np.float32))
    assert arrays["timeouts"].tolist() == [False] * 4 + [True] and not arrays["terminals"].any()
    assert (meta.env_id, meta.random_return, meta.expert_return) == ("Pendulum-v1", -50.0, -1.0)
    minari.create_dataset_from_buffers("ext/pendulum/noref-v0", [buf], env=env, data_format="arrow")  # no ref scores
    with pytest.raises(ValueError, match="ref_min_score/ref_max_score"):
        from_minari("ext/pendulum/noref-v0")


def test_command_line_export_then_import(tmp_path, minari_root, collected, capsys):
    from litlab.rl.offline.minari_io import main

    arrays, returns = collected
    path = save_offline_dataset(tmp_path / "ds", arrays, _meta(returns, episode_layout="contiguous"))
    main(["export", str(path), "litlab/hopper/cli-v0"])
    assert "150 steps" in capsys.readouterr().out
    main(["import", "litlab/hopper/cli-v0", str(tmp_path / "back")])
    loaded, _ = load_offline_dataset(tmp_path / "back")
    np.testing.assert_array_equal(loaded["actions"], arrays["actions"].astype(np.float32))
