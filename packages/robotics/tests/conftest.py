import numpy as np
import pytest

from litlab.robotics.data.synthetic import spline_chunks
from litlab.robotics.tokenizers import FASTTokenizer


@pytest.fixture(scope="session")
def chunks_50x7():
    """600 smooth spline chunks [600, 50, 7]: 500 to fit, 100 held out."""
    return spline_chunks(600, 50, 7, seed=0)


@pytest.fixture(scope="session")
def fitted(chunks_50x7):
    return FASTTokenizer(scale=10, vocab_size=512).fit(chunks_50x7[:500])


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def vla_dataset(tmp_path_factory):
    """``vla_dataset(fps=10, seed=0)``: a tiny LeRobot v3 folder of PointMass2D expert demos (32 px images,
    12 train and 4 val episodes), generated once per (fps, seed) for the VLA tests."""
    from litlab.robotics.data.generate import generate_pointmass_dataset

    made = {}

    def make(fps: int = 10, seed: int = 0):
        if (fps, seed) not in made:
            root = tmp_path_factory.mktemp(f"pm{fps}_{seed}")
            generate_pointmass_dataset(root, episodes=12, val_episodes=4, control_hz=fps, image_size=32, seed=seed)
            made[fps, seed] = root
        return made[fps, seed]

    return make
