import numpy as np
import pytest

from litlab.rl.offline.collect import collect_transitions, random_policy
from litlab.rl.offline.storage import OfflineMetadata, save_offline_dataset


@pytest.fixture
def tiny_arrays():
    """A factory of small random D4RL-layout arrays."""
    return _tiny_arrays


def _tiny_arrays(n: int = 40, obs_dim: int = 3, act_dim: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "observations": rng.normal(size=(n, obs_dim)).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(n, act_dim)).astype(np.float32),
        "rewards": rng.normal(size=n).astype(np.float32),
        "terminals": rng.random(n) < 0.1,
        "timeouts": rng.random(n) < 0.1,
        "next_observations": rng.normal(size=(n, obs_dim)).astype(np.float32),
    }


@pytest.fixture(scope="session")
def hopper_generated(tmp_path_factory):
    """A small real Hopper-v5 dataset (uniform random policy) saved with litlab's storage: (path, arrays)."""
    arrays, returns = collect_transitions("Hopper-v5", random_policy(_box(), 0), 400, num_envs=4, seed=0)
    meta = OfflineMetadata("Hopper-v5", "random", float(np.mean(returns)), float(np.mean(returns)) + 100.0)
    return save_offline_dataset(tmp_path_factory.mktemp("rl") / "hopper-random-v5", arrays, meta), arrays


@pytest.fixture(scope="session")
def hopper_dataset(hopper_generated):
    return hopper_generated[0]


def _box():
    import gymnasium as gym

    return gym.make("Hopper-v5").action_space
