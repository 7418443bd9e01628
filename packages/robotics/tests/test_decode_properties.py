"""Property tests: strict and relaxed decode on truncated, extended and corrupted token lists."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from litlab.robotics.tokenizers import FASTDecodeError

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _n_symbols(tok, seq):
    return int(tok.bpe.token_lengths[np.asarray(seq, dtype=np.int64)].sum()) if seq else 0


@st.composite
def corruption(draw):
    kind = draw(st.sampled_from(["truncate", "extend", "replace", "foreign", "drop_last", "empty"]))
    return kind, draw(st.integers(0, 99)), draw(st.integers(0, 10_000)), draw(st.integers(1, 12))


@SETTINGS
@given(corruption())
def test_strict_and_relaxed_on_corrupted(fitted, chunks_50x7, case):
    kind, index, seed, k = case
    rng = np.random.default_rng(seed)
    good = fitted.encode(chunks_50x7[500 + index : 501 + index])[0]
    v = fitted.bpe.vocab_size
    seq = list(good)
    if kind == "truncate":
        seq = seq[: max(0, len(seq) - k)]
    elif kind == "extend":
        seq = seq + rng.integers(0, v, k).tolist()
    elif kind == "replace":
        pos = rng.integers(0, len(seq))
        seq[pos] = int(rng.integers(0, v))
    elif kind == "foreign":
        seq[rng.integers(0, len(seq))] = int(rng.choice([-1, v, v + 1000]))
    elif kind == "drop_last":
        seq = seq[:-1]
    else:
        seq = []
    foreign = any(t < 0 or t >= v for t in seq)
    exact = not foreign and _n_symbols(fitted, seq) == 350
    ids = [good, seq]  # the good sequence next to it must be unaffected

    strict = fitted.decode_with_info(ids, mode="strict")
    assert strict.valid.tolist() == [True, exact]
    assert strict.failed.tolist() == [False, not exact] and not strict.repaired.any()
    if not exact:
        assert torch.count_nonzero(strict.actions[1]) == 0  # reference fallback: all-zero chunk
        with pytest.raises(FASTDecodeError, match="1 of 2"):
            fitted.decode(ids, mode="strict")
    else:
        assert torch.equal(fitted.decode(ids, mode="strict"), strict.actions)

    relaxed = fitted.decode_with_info(ids, mode="relaxed")
    assert torch.equal(relaxed.actions[0], strict.actions[0])
    assert relaxed.failed.tolist() == [False, foreign]
    assert relaxed.repaired.tolist() == [False, not exact and not foreign]
    if not foreign:
        # truncate / zero-pad on the right: the first min(n, 350) coefficients are the decoded symbols
        coeffs = np.rint(
            np.asarray(__import__("scipy.fft").fft.dct(relaxed.actions[1].numpy(), type=2, norm="ortho", axis=0)) * 10
        )
        flat = coeffs.reshape(-1).astype(int)
        syms = (
            np.concatenate(
                [fitted.bpe.token_symbols[fitted.bpe.token_offsets[t] : fitted.bpe.token_offsets[t + 1]] for t in seq]
                + [np.zeros(0, int)]
            )[:350]
            + fitted.min_token
        )
        assert np.array_equal(flat[: len(syms)], syms) and not flat[len(syms) :].any()
    if kind == "truncate" and not foreign:
        # losing only trailing tokens loses only the highest frequencies: error stays moderate
        assert torch.linalg.norm(relaxed.actions[1] - strict.actions[0]) < torch.linalg.norm(strict.actions[0]) + 1e-9


@SETTINGS
@given(st.lists(st.integers(-5, 600), max_size=80))
def test_arbitrary_id_lists_never_crash(fitted, seq):
    for mode in ("strict", "relaxed"):
        res = fitted.decode_with_info([seq], mode=mode)
        assert res.actions.shape == (1, 50, 7) and torch.isfinite(res.actions).all()
        assert int(res.valid[0]) + int(res.repaired[0]) + int(res.failed[0]) == 1
