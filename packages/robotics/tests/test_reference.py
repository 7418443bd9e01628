"""The restated reference algorithm reproduces the spec's problems P1 (dropped symbols) and P2 (byte-level
pre-splitting), which the litlab tokenizer fixes."""

import numpy as np

from litlab.robotics.data.synthetic import spline_chunks
from litlab.robotics.tokenizers import FASTTokenizer
from litlab.robotics.tokenizers.reference import ReferenceFASTTokenizer


def test_reference_round_trip_in_range_and_failures_out_of_range():
    train, test = spline_chunks(400, 20, 3, seed=0), spline_chunks(60, 20, 3, seed=1)
    ref = ReferenceFASTTokenizer(scale=10, vocab_size=256).fit(train)
    ours = FASTTokenizer(scale=10, vocab_size=256).fit(train)
    # in range: the reference round-trips exactly like ours (up to rounding)
    out = ref.decode(ref.encode(train[:50]), 20, 3)
    assert ref.last_failed == []
    assert np.abs(out - ours.decode(ours.encode(train[:50])).numpy()).max() < 1e-12
    # beyond the fitted range the reference silently drops symbols and fails its own round trip (P1)
    wild = test * 2.0
    ref.decode(ref.encode(wild), 20, 3)
    assert len(ref.last_failed) > 0 and ref.n_failures == len(ref.last_failed)
    res = ours.decode_with_info(ours.encode(wild))
    assert res.n_failures == 0 and ours.stats["clamped"] > 0


def test_reference_byte_level_pre_split_costs_tokens():
    train, test = spline_chunks(1500, 50, 7, seed=0), spline_chunks(100, 50, 7, seed=1)
    ref = ReferenceFASTTokenizer(scale=10, vocab_size=1024).fit(train)
    ours = FASTTokenizer(scale=10, vocab_size=1024).fit(train)
    n_ref = np.mean([len(i) for i in ref.encode(test)])
    n_ours = np.mean([len(i) for i in ours.encode(test)])
    assert n_ours < 0.95 * n_ref  # P2: the integer alphabet needs fewer tokens
