import json

import numpy as np
import pytest
import torch

from litlab.robotics.data.lerobot_v3 import LeRobotV3Dataset
from litlab.robotics.vla.processor import ACTION_OFFSET, BAR, BOS, EOS, PAD, VLAProcessor


@pytest.fixture(scope="module")
def dataset(vla_dataset):
    return LeRobotV3Dataset(vla_dataset())


@pytest.fixture(scope="module", params=["fast", "binning"])
def processor(request, dataset):
    return VLAProcessor.from_dataset(dataset, request.param, horizon=10, fast_vocab=300)


def _chunks(dataset, proc, n=8):
    from litlab.robotics.cli import load_chunks

    raw = load_chunks(dataset, "val", proc.horizon, 1)[0][:n]
    return raw, proc.action_norm.transform(torch.as_tensor(raw, dtype=torch.float32))


def test_prefix_layout_by_hand(processor):
    state = torch.tensor([[-1.0, 1.0], [0.0, 0.5]])
    ids = processor.encode_prefix(["Move to the red_target", "go"], state)
    assert ids.shape == (2, processor.prefix_text_len)
    text = "Task: move to the red target, State: "
    row = ids[0].tolist()
    start = processor.text_len - 1 - len(text)
    assert row[:start] == [PAD] * start and row[start] == BOS
    assert bytes(t - 3 for t in row[start + 1 : processor.text_len]).decode() == text
    # state bins floor((y + 1) / 2 * 256): -1 -> 0, 1 -> 255 (clamped), 0 -> 128, 0.5 -> 192
    assert row[processor.text_len : processor.text_len + 2] == [259 + 0, 259 + 255]
    assert ids[1, processor.text_len : processor.text_len + 2].tolist() == [259 + 128, 259 + 192]
    assert bytes(t - 3 for t in row[-10:]).decode() == ";\nAction: "
    with pytest.raises(ValueError, match="text_len"):
        processor.encode_prefix(["x" * 80], state[:1])


def test_actions_round_trip_and_terminator(dataset, processor):
    raw, norm = _chunks(dataset, processor)
    seqs = processor.encode_actions(norm)
    assert all(s[-2:] == [BAR, EOS] and min(s[:-2]) >= ACTION_OFFSET for s in seqs)
    if processor.kind == "binning":
        assert all(len(s) == 10 * 2 + 2 for s in seqs)
    width = max(map(len, seqs))
    ids = torch.tensor([s + [PAD] * (width - len(s)) for s in seqs])
    dec = processor.decode_actions(ids, "strict")
    assert dec.valid.all() and not dec.failed.any()
    err = (dec.actions - norm).abs().max().item()
    assert err < (1 / 256 + 1e-6 if processor.kind == "binning" else 0.5 / 10 * np.sqrt(20))
    back = processor.action_norm.inverse(dec.actions.double()).numpy()
    assert np.abs(back - raw).max() < 0.1 * (processor.action_norm.q99 - processor.action_norm.q01).max()


def test_strict_and_relaxed_decode_of_broken_rows(dataset, processor):
    _, norm = _chunks(dataset, processor, 2)
    good = processor.encode_actions(norm)[0]
    truncated = good[: len(good) // 2]  # no terminator, half the tokens
    foreign = good[:1] + [BOS] + good[1:]  # a non-action id inside the block
    width = len(good) + 1
    rows = [r + [PAD] * (width - len(r)) for r in (good, truncated, foreign, [BAR])]
    strict = processor.decode_actions(torch.tensor(rows), "strict")
    assert strict.valid.tolist() == [True, False, False, False]
    assert strict.failed.tolist() == [False, True, True, True] and (strict.actions[1:] == 0).all()
    relaxed = processor.decode_actions(torch.tensor(rows), "relaxed")
    assert relaxed.failed.tolist() == [False, False, False, True]
    assert torch.allclose(relaxed.actions[2], strict.actions[0], atol=1e-6)  # the foreign id is dropped


def test_save_load_gives_identical_tokens(tmp_path, dataset, processor):
    _, norm = _chunks(dataset, processor)
    processor.save(tmp_path)
    back = VLAProcessor.load(tmp_path)
    assert back.fingerprint == processor.fingerprint and back.vocab_size == processor.vocab_size
    assert back.encode_actions(norm) == processor.encode_actions(norm)
    state = torch.rand(3, 2) * 2 - 1
    tasks = ["move to the blue target", "go to the red circle", "reach the green goal"]
    assert torch.equal(back.encode_prefix(tasks, state), processor.encode_prefix(tasks, state))


def test_corrupted_file_and_mismatched_stats_are_refused(tmp_path, dataset, processor, vla_dataset):
    processor.check_stats(dataset.stats)  # the statistics it was built from pass
    other = LeRobotV3Dataset(vla_dataset(seed=1))
    with pytest.raises(ValueError, match="do not match the processor"):
        processor.check_stats(other.stats)
    processor.save(tmp_path)
    path = tmp_path / "processor.json"
    d = json.loads(path.read_text())
    d["action_norm"]["q99"][0] += 0.5  # statistics edited after saving
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="corrupted"):
        VLAProcessor.load(tmp_path)
    path.write_text(path.read_text()[:100])
    with pytest.raises(ValueError, match="not valid JSON"):
        VLAProcessor.load(tmp_path)
