"""`python -m litlab.robotics fit / report` against numbers recomputed here from the dataset's parquet files:
which episodes each split uses (chunk counts, the normalizer's quantiles), the reconstruction error (an
independent float64 DCT-II round trip: round(scale * C) / scale, arXiv 2501.09747 Eq. 1) and its units
(normalized [-1, 1] and raw: raw error = normalized error * (q99 - q01) / 2 per dimension)."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.fft import dct, idct

from litlab.robotics.cli import main

H, SCALE = 25, 10.0  # --fps 25: one-second chunks; the fit's default scale


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("pm25")
    ds, tok = str(root / "ds"), str(root / "tok")
    assert main(["generate", "--out", ds, "--episodes", "30", "--val-episodes", "6", "--fps", "25",
                 "--image-size", "16"]) == 0  # fmt: skip
    return root / "ds", tok


def _episodes(ds, split: str) -> list[np.ndarray]:
    """Action arrays [T, D] of the split's episodes, read straight from the parquet files."""
    a, b = map(int, json.loads((ds / "meta/info.json").read_text())["splits"][split].split(":"))
    frames = pd.read_parquet(ds / "data/chunk-000/file-000.parquet", columns=["episode_index", "action"])
    return [np.stack(frames.action[frames.episode_index == e].to_list()).astype(np.float64) for e in range(a, b)]


def _windows(episodes: list[np.ndarray]) -> np.ndarray:
    full = [ep for ep in episodes if len(ep) >= H]
    return np.concatenate([np.stack([ep[i : i + H] for i in range(len(ep) - H + 1)]) for ep in full])


def test_fit_and_report_use_their_splits_and_report_in_the_right_units(fitted, capsys):
    ds, tok = fitted
    train, val = _episodes(ds, "train"), _episodes(ds, "val")
    assert len(train) == 30 and len(val) == 6
    stats = json.loads((ds / "meta/stats.json").read_text())["action"]
    q01, q99 = np.asarray(stats["q01"]), np.asarray(stats["q99"])
    every_train_frame = np.concatenate(train)
    assert np.allclose(q01, np.quantile(every_train_frame, 0.01, axis=0))  # the normalizer saw train only
    assert np.allclose(q99, np.quantile(every_train_frame, 0.99, axis=0))

    capsys.readouterr()
    assert main(["fit", "--dataset", str(ds), "--out", tok, "--vocab-size", "256"]) == 0
    fit = json.loads(capsys.readouterr().out)
    assert fit["chunks"] == len(_windows(train))  # every full one-second window of the train episodes
    assert main(["report", "--dataset", str(ds), "--tokenizer", tok]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["split"] == "val" and rep["chunks"] == len(_windows(val)) != fit["chunks"]

    for out, episodes in ((fit, train), (rep, val)):
        raw = _windows(episodes)
        norm = 2 * (np.clip(raw, q01, q99) - q01) / (q99 - q01) - 1
        coeffs = np.round(SCALE * dct(norm, type=2, norm="ortho", axis=1))
        err = idct(coeffs / SCALE, type=2, norm="ortho", axis=1) - norm  # lossless BPE: only the rounding
        assert out["strict_failures"] == 0 and out["clamped_coefficients"] == 0
        assert out["mae_normalized"] == pytest.approx(np.abs(err).mean(), rel=1e-6)
        assert out["mae_raw"] == pytest.approx(np.abs(err * (q99 - q01) / 2).mean(), rel=1e-6)
        assert out["naive_tokens"] == H * raw.shape[2] and out["action_dim"] == raw.shape[2]
