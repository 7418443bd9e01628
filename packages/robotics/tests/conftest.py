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
