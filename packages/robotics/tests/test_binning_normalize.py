import json
import logging

import numpy as np
import pytest
import torch

from litlab.robotics.tokenizers import BinningTokenizer, QuantileNormalizer, _bpe_kernel


def test_binning_hand_values_and_order():
    tok = BinningTokenizer(bins=4)  # edges -1, -0.5, 0, 0.5, 1
    x = torch.tensor([[[-1.0, -0.51], [0.0, 0.99]], [[1.0, -0.5], [0.49, 0.5]]], dtype=torch.float64)
    ids = tok.encode(x)
    assert ids.tolist() == [[0, 0, 2, 3], [3, 1, 2, 3]]  # time-major: t0 d0, t0 d1, t1 d0, t1 d1
    centres = tok.decode(ids, 2, 2)
    assert torch.allclose(centres[0], torch.tensor([[-0.75, -0.75], [0.25, 0.75]]))


def test_binning_error_at_most_half_a_bin(rng):
    x = rng.uniform(-1, 1, (50, 20, 3))
    tok = BinningTokenizer(256)
    out = tok.decode(tok.encode(x), 20, 3)
    assert out.shape == (50, 20, 3)
    assert np.abs(out.numpy() - x).max() <= 1 / 256 + 1e-6


def test_binning_counts_clipping_and_rejects_bad_ids(caplog):
    tok = BinningTokenizer(256)
    with caplog.at_level(logging.WARNING):
        ids = tok.encode(np.array([[[1.5, -2.0]]]))
    assert ids.tolist() == [[255, 0]] and tok.stats["clipped"] == 2 and "clipped 2" in caplog.text
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        tok.decode(torch.tensor([[256, 0]]), 1, 2)
    with pytest.raises(ValueError, match="H\\*D"):
        tok.decode(torch.tensor([[1, 0, 3]]), 1, 2)


def test_quantile_normalizer_hand_values(tmp_path, caplog):
    x = np.stack([np.arange(101, dtype=float), np.full(101, 3.0)], axis=1)  # dim 1 constant
    norm = QuantileNormalizer().fit(x)
    assert np.allclose(norm.q01, [1.0, 3.0]) and np.allclose(norm.q99, [99.0, 3.0])
    with caplog.at_level(logging.INFO):
        y = norm.transform(np.array([[0.0, 3.0], [50.0, 7.0], [99.0, 3.0]]))
    assert np.allclose(y, [[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    assert norm.clip_counts.tolist() == [1, 1] and "clipped 2" in caplog.text
    assert np.allclose(norm.inverse(y), [[1.0, 3.0], [50.0, 3.0], [99.0, 3.0]])
    t = norm.transform(torch.tensor([[50.0, 3.0]], dtype=torch.float32))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    norm.save(tmp_path / "n.json")
    again = QuantileNormalizer.load(tmp_path / "n.json")
    assert np.array_equal(again.q01, norm.q01) and json.loads((tmp_path / "n.json").read_text())["q99"]
    with pytest.raises(ValueError, match="3 features"):
        norm.transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        norm.transform(np.array([[np.nan, 1.0]]))
    with pytest.raises(RuntimeError, match="not fitted"):
        QuantileNormalizer().transform(x)


def test_numpy_decode_fallback_matches_compiled(fitted, chunks_50x7, rng):
    flat, lens = fitted.encode_flat(chunks_50x7[500:])
    flat = flat.copy()
    flat[rng.integers(0, len(flat), 5)] = -3  # foreign ids
    lens[3] -= 2
    lens[4] += 2
    a = _bpe_kernel.expand_batch(flat, lens, fitted.bpe.token_offsets, fitted.bpe.token_symbols, 350, -7)
    out = np.empty_like(a[0])
    n_sym = np.empty_like(a[1])
    _bpe_kernel._expand_batch_numpy(flat, lens, fitted.bpe.token_offsets, fitted.bpe.token_symbols, 350, -7, out, n_sym)
    assert np.array_equal(a[0], out) and np.array_equal(a[1], n_sym)
