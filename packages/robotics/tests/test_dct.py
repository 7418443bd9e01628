import numpy as np
import pytest
import scipy.fft
import torch

from litlab.robotics.tokenizers import dct, dct_matrix, fast_coefficients, idct


@pytest.mark.parametrize("horizon", [1, 2, 7, 10, 50, 80, 800])
def test_dct_matches_scipy_float64(horizon):
    x = np.random.default_rng(horizon).normal(size=(3, horizon, 5))
    c = dct(torch.from_numpy(x))
    ref = scipy.fft.dct(x, type=2, norm="ortho", axis=1)
    assert np.abs(c.numpy() - ref).max() < 1e-10
    back = idct(c)
    assert np.abs(back.numpy() - scipy.fft.idct(ref, type=2, norm="ortho", axis=1)).max() < 1e-10
    assert np.abs(back.numpy() - x).max() < 1e-10


def test_dct_matrix_is_orthonormal_and_cached():
    m = dct_matrix(13)
    assert torch.allclose(m @ m.T, torch.eye(13, dtype=torch.float64), atol=1e-12)
    assert dct_matrix(13) is m
    # DC term = sqrt(H) * mean
    x = torch.rand(1, 13, 2, dtype=torch.float64)
    assert torch.allclose(dct(x)[0, 0], 13**0.5 * x[0].mean(0))


def test_fast_coefficients_equal_scipy_rounding():
    x = np.random.default_rng(0).uniform(-1, 1, (64, 50, 7))
    ref = np.rint(10 * scipy.fft.dct(x, type=2, norm="ortho", axis=1)).astype(np.int64)
    got = fast_coefficients(x, scale=10)
    assert got.dtype == torch.int64 and got.shape == (64, 50, 7)
    assert np.array_equal(got.numpy(), ref)
    assert torch.equal(fast_coefficients(torch.from_numpy(x)), got)  # torch input, same result


def test_fast_coefficients_hand_worked_3x2():
    # a[n, d]; H=3: C0 = sum/sqrt(3); C1 = sqrt(2/3)(a0 - a2) cos(pi/6); C2 = sqrt(2/3)(a0/2 - a1 + a2/2)
    a = np.array([[0.3, -0.6], [0.3, 0.0], [0.3, 0.6]])
    c0 = np.array([0.9, 0.0]) / np.sqrt(3)
    c1 = np.sqrt(2 / 3) * np.cos(np.pi / 6) * np.array([0.0, -1.2])
    c2 = np.sqrt(2 / 3) * np.array([0.0, 0.0])
    want = np.rint(10 * np.stack([c0, c1, c2])).astype(int)  # 0.9/sqrt(3)=0.520 -> 5; -1.2*0.7071=-0.849 -> -8
    assert want.tolist() == [[5, 0], [0, -8], [0, 0]]
    assert fast_coefficients(a[None]).numpy()[0].tolist() == want.tolist()


def test_fast_coefficients_bad_input():
    with pytest.raises(ValueError, match="shape"):
        fast_coefficients(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="NaN"):
        fast_coefficients(np.full((1, 4, 2), np.nan))
    with pytest.raises(ValueError, match="scale"):
        fast_coefficients(np.zeros((1, 4, 2)), scale=0)
    with pytest.raises(TypeError):
        fast_coefficients([[1.0]])
