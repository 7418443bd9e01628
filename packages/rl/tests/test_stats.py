"""IQM and its stratified-bootstrap CI."""

import numpy as np
import pytest

from litlab.rl.eval import iqm, iqm_bootstrap_ci


def test_iqm_by_hand():
    # 8 scores: drop the 2 lowest and the 2 highest, average the middle 4
    scores = np.array([0, 100, 1, 2, 3, 4, -50, 5])
    assert iqm(scores) == pytest.approx((1 + 2 + 3 + 4) / 4)


def test_bootstrap_ci_brackets_and_degenerate():
    rng = np.random.default_rng(0)
    scores = rng.normal(50, 10, size=(3, 8))
    point, lo, hi = iqm_bootstrap_ci(scores, num_resamples=500)
    assert lo <= point <= hi and hi - lo > 0
    assert iqm_bootstrap_ci(np.full((2, 4), 7.0))[1:] == (7.0, 7.0)
    with pytest.raises(ValueError, match="tasks, seeds"):
        iqm_bootstrap_ci(np.ones(4))
