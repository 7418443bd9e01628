import logging

import numpy as np
import pytest
import scipy.fft
import torch
from tokenizers import Tokenizer

from litlab.robotics.tokenizers import FASTTokenizer, _bpe_kernel


def test_fit_range_and_flatten_order(fitted, chunks_50x7):
    q = np.rint(10 * scipy.fft.dct(chunks_50x7[:500], type=2, norm="ortho", axis=1)).astype(int)
    assert (fitted.min_token, fitted.max_token) == (q.min(), q.max())
    assert (fitted.horizon, fitted.action_dim) == (50, 7)
    # row-by-row flatten: position k * D + d holds frequency k of dimension d
    sym = fitted.symbols(chunks_50x7[:3])
    assert np.array_equal(sym, q[:3].reshape(3, -1) - fitted.min_token)
    assert sym[0, 1 * 7 + 2] == q[0, 1, 2] - fitted.min_token


def test_hand_written_3x2_symbols():
    a = np.array([[[0.3, -0.6], [0.3, 0.0], [0.3, 0.6]]] * 2)
    tok = FASTTokenizer(vocab_size=64).fit(a)
    assert (tok.min_token, tok.max_token) == (-8, 5)
    assert tok.symbols(a[:1]).tolist() == [[13, 8, 8, 0, 8, 8]]  # [5, 0, 0, -8, 0, 0] + 8
    assert torch.equal(tok.decode(tok.encode(a[:1])), tok.decode([tok.encode(a[:1])[0]]))


needs_numba = pytest.mark.skipif(not _bpe_kernel.HAVE_NUMBA, reason="compiled BPE backend needs numba")


@needs_numba
def test_numba_encoder_equals_tokenizers(fitted, chunks_50x7):
    held = chunks_50x7[500:]
    sym = fitted.symbols(held)
    flat_n, len_n = fitted.bpe.encode(sym, "numba")
    flat_t, len_t = fitted.bpe.encode(sym, "tokenizers")
    assert np.array_equal(flat_n, flat_t) and np.array_equal(len_n, len_t)
    assert len_n.mean() < 0.5 * 350  # BPE compresses smooth chunks


@needs_numba
def test_numba_encoder_equals_tokenizers_on_runs_and_noise(rng):
    # long runs ("aaaa": leftmost-first overlapping merges) and random symbols
    train = np.concatenate([np.zeros((30, 40, 1)), rng.uniform(-1, 1, (30, 40, 1)) * 0.3])
    tok = FASTTokenizer(scale=10, vocab_size=128).fit(train)
    test = np.concatenate([np.zeros((5, 40, 1)), rng.uniform(-1, 1, (50, 40, 1)) * 0.3])
    sym = tok.symbols(test)
    a, la = tok.bpe.encode(sym, "numba")
    b, lb = tok.bpe.encode(sym, "tokenizers")
    assert np.array_equal(a, b) and np.array_equal(la, lb)


def test_round_trip_within_bound(fitted, chunks_50x7):
    held = chunks_50x7[500:]
    ids = fitted.encode(held)
    assert len(ids) == 100 and all(isinstance(i, list) for i in ids)
    before = fitted.stats["clamped"]
    out = fitted.decode(ids)
    assert fitted.stats["clamped"] == before and out.shape == (100, 50, 7)
    # orthonormal DCT: per-chunk L2 error <= 0.5 / scale * sqrt(H * D) (rounding only, nothing clamped)
    err = np.linalg.norm((out.numpy() - held).reshape(100, -1), axis=1)
    assert err.max() <= 0.5 / 10 * np.sqrt(350)
    assert np.sqrt(np.mean((out.numpy() - held) ** 2)) <= 0.5 / 10
    # the decode equals the inverse DCT of the rounded coefficients exactly
    q = np.rint(10 * scipy.fft.dct(held, type=2, norm="ortho", axis=1))
    assert np.abs(out.numpy() - scipy.fft.idct(q / 10, type=2, norm="ortho", axis=1)).max() < 1e-12


def test_out_of_range_clamped_counted_and_round_trips(fitted, caplog):
    spiky = np.zeros((4, 50, 7))
    spiky[:, :10, :] = 5.0  # far outside [-1, 1]: low frequencies beyond the fitted range
    spiky[1] *= -1
    with caplog.at_level(logging.WARNING):
        ids = fitted.encode(spiky)
    assert "clamped" in caplog.text
    sym = fitted.symbols(spiky)
    assert sym.min() == 0 and sym.max() == fitted.max_token - fitted.min_token
    n = fitted.stats["clamped"]
    assert n > 0
    res = fitted.decode_with_info(ids)
    assert bool(res.valid.all()) and res.n_failures == 0  # every clamped symbol still has a token
    # decoding the ids gives exactly the clamped coefficients back
    q_back = np.rint(scipy.fft.dct(res.actions.numpy(), type=2, norm="ortho", axis=1) * 10)
    assert np.array_equal(q_back.reshape(4, -1).astype(int) - fitted.min_token, sym)


def test_save_load_identical(fitted, chunks_50x7, tmp_path):
    fitted.save(tmp_path / "tok")
    again = FASTTokenizer.load(tmp_path / "tok")
    held = chunks_50x7[500:]
    assert again.encode(held) == fitted.encode(held)
    assert torch.equal(again.decode(fitted.encode(held)), fitted.decode(fitted.encode(held)))
    Tokenizer.from_file(str(tmp_path / "tok" / "bpe.json"))  # plain tokenizers file, no remote code
    (tmp_path / "tok" / "fast_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        FASTTokenizer.load(tmp_path / "tok")
    with pytest.raises(FileNotFoundError, match="fast_config.json"):
        FASTTokenizer.load(tmp_path / "missing")


def test_padded_tensor_ids_with_lengths(fitted, chunks_50x7):
    ids = fitted.encode(chunks_50x7[500:510])
    width = max(map(len, ids))
    arr = torch.full((10, width + 3), 7, dtype=torch.long)  # pad value is ignored past lengths
    for i, s in enumerate(ids):
        arr[i, : len(s)] = torch.tensor(s)
    lengths = torch.tensor([len(s) for s in ids])
    assert torch.equal(fitted.decode(arr, lengths=lengths), fitted.decode(ids))


def test_bad_arguments(fitted):
    with pytest.raises(ValueError, match="vocab_size"):
        FASTTokenizer(vocab_size=1)
    with pytest.raises(ValueError, match="needs .* symbols"):
        FASTTokenizer(scale=1000, vocab_size=64).fit(np.random.default_rng(0).uniform(-1, 1, (8, 20, 2)))
    with pytest.raises(RuntimeError, match="not fitted"):
        FASTTokenizer().encode(np.zeros((1, 10, 2)))
    with pytest.raises(ValueError, match="mode"):
        fitted.decode([[1]], mode="lenient")
    with pytest.raises(TypeError, match="list of integer lists"):
        fitted.decode([["a"]])
    with pytest.raises(ValueError, match="lengths"):
        fitted.decode(np.zeros((2, 3), dtype=int), lengths=[1, 9])


def test_universal_fit_mixed_horizons_and_dims():
    from litlab.robotics.data.synthetic import spline_chunks

    sets = [spline_chunks(150, 10, 7, seed=1), spline_chunks(150, 50, 2, seed=2), spline_chunks(100, 25, 14, seed=3)]
    tok = FASTTokenizer(vocab_size=1024).fit_universal(sets, pad_to=16)
    assert tok.horizon is None and tok.fit_info["pad_to"] == 16
    for x in sets:
        h, d = x.shape[1:]
        for pad in (None, 16):
            out = tok.decode(tok.encode(x[:20], pad_to=pad), horizon=h, action_dim=d, pad_to=pad)
            assert out.shape == (20, h, d)
            err = np.linalg.norm((out.numpy() - x[:20]).reshape(20, -1), axis=1)
            assert err.max() <= 0.5 / 10 * np.sqrt(h * (pad or d))
    with pytest.raises(ValueError, match="horizon"):
        tok.decode([[1, 2]])


def test_blocked_encode_decode_equals_one_block(fitted, chunks_50x7, monkeypatch):
    import litlab.robotics.tokenizers.fast as fast_mod

    held = chunks_50x7[500:]
    ids = fitted.encode(held)
    ids[3] = ids[3][:-2]  # one broken sequence inside the second block
    ref = fitted.decode_with_info(ids, mode="relaxed")
    monkeypatch.setattr(fast_mod, "BLOCK", 7)
    assert fitted.encode(held)[5:] == ids[5:]
    small = fitted.decode_with_info(ids, mode="relaxed")
    assert torch.allclose(small.actions, ref.actions, rtol=0, atol=1e-12)  # BLAS blocking may differ in ulps
    assert torch.equal(small.repaired, ref.repaired)
    assert small.repaired.tolist().index(True) == 3
