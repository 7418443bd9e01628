import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from litlab.robotics.data.chunks import ActionChunkDataModule, ActionChunkDataset
from litlab.robotics.data.generate import generate_pointmass_dataset
from litlab.robotics.data.lerobot_v3 import LeRobotV3Dataset, write_lerobot_v3
from litlab.robotics.sims.expert import rollout_expert
from litlab.robotics.sims.pointmass2d import PointMass2DEnv


@pytest.fixture(scope="module")
def episodes():
    env = PointMass2DEnv(control_hz=25, image_size=24)
    return [rollout_expert(env, s, noise_std=0.1 * (s % 2)) for s in range(6)]


@pytest.fixture(scope="module")
def ds_root(tmp_path_factory, episodes):
    root = tmp_path_factory.mktemp("ds") / "pm"
    write_lerobot_v3(root, episodes, 25, "pointmass2d", n_train=4)
    return root


def test_layout_and_metadata(ds_root, episodes):
    for rel in (
        "meta/info.json",
        "meta/stats.json",
        "meta/tasks.parquet",
        "meta/episodes/chunk-000/file-000.parquet",
        "data/chunk-000/file-000.parquet",
    ):
        assert (ds_root / rel).is_file(), rel
    info = json.loads((ds_root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 25
    assert info["total_episodes"] == 6 and info["splits"] == {"train": "0:4", "val": "4:6"}
    assert info["features"]["observation.images.top"]["dtype"] == "image"
    stats = json.loads((ds_root / "meta/stats.json").read_text())
    train_actions = np.concatenate([e["action"] for e in episodes[:4]]).astype(np.float64)
    assert np.allclose(stats["action"]["q01"], np.quantile(train_actions, 0.01, axis=0))
    assert np.allclose(stats["action"]["q99"], np.quantile(train_actions, 0.99, axis=0))
    assert np.array(stats["observation.images.top"]["mean"]).shape == (3, 1, 1)
    # HF datasets feature schema travels with the parquet: images come back as PIL images
    import datasets

    hf = datasets.Dataset.from_parquet(str(ds_root / "data/chunk-000/file-000.parquet"))
    assert isinstance(hf.features["observation.images.top"], datasets.Image)
    assert np.array_equal(np.asarray(hf[0]["observation.images.top"]), episodes[0]["image"][0])


def test_episode_round_trip_exact(ds_root, episodes):
    ds = LeRobotV3Dataset(ds_root)
    assert len(ds) == sum(len(e["action"]) for e in episodes)
    for i, ep in enumerate(episodes):
        back = ds.episode(i)
        assert np.array_equal(back["state"], ep["state"]) and back["state"].dtype == np.float32
        assert np.array_equal(back["action"], ep["action"])
        assert np.array_equal(back["image"], ep["image"])
        assert back["task"] == ep["task"] and back["success"] == ep["success"]
    rows = pq.read_table(ds_root / "meta/episodes/chunk-000/file-000.parquet").to_pandas()
    assert rows["length"].tolist() == [len(e["action"]) for e in episodes]


def test_writer_and_reader_errors(tmp_path, ds_root, episodes):
    with pytest.raises(FileExistsError):
        write_lerobot_v3(ds_root, episodes, 25, "pointmass2d", n_train=4)
    with pytest.raises(ValueError, match="n_train"):
        write_lerobot_v3(tmp_path / "x", episodes, 25, "pointmass2d", n_train=0)
    with pytest.raises(FileNotFoundError, match="info.json"):
        LeRobotV3Dataset(tmp_path / "nothing")


def test_chunk_windows_pad_at_episode_end(ds_root):
    ds = LeRobotV3Dataset(ds_root)
    cd = ActionChunkDataset(ds, horizon=10, split="train", normalize=False)
    a, b = ds.episode_range(0)
    assert len(cd) == sum(e - s for s, e in (ds.episode_range(i) for i in range(4)))
    last = cd[b - a - 3]  # three real steps left in episode 0
    assert last["action_is_pad"].tolist() == [False] * 3 + [True] * 7
    assert torch.equal(last["action"][3:], last["action"][2].expand(7, 2))  # repeats the last frame
    assert torch.equal(last["action"][:3], torch.from_numpy(ds.columns["action"][b - 3 : b]))
    first = cd[0]
    assert not first["action_is_pad"].any() and first["observation.image"].shape == (3, 24, 24)
    assert first["task"] == ds.episode(0)["task"]


def test_datamodule_batches_normalized(ds_root):
    dm = ActionChunkDataModule(str(ds_root), horizon=8, batch_size=5)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["action"].shape == (5, 8, 2) and batch["action_is_pad"].shape == (5, 8)
    assert batch["action"].abs().max() <= 1.0 and len(batch["task"]) == 5
    val_eps = {int(e) for b in dm.val_dataloader() for e in b["episode_index"]}
    assert val_eps == {4, 5}  # split by episode
    with pytest.raises(FileNotFoundError, match="generate"):
        ActionChunkDataModule("/nonexistent", horizon=8)


def test_generate_splits_by_seed(tmp_path):
    out = generate_pointmass_dataset(tmp_path / "g", episodes=8, val_episodes=3, control_hz=10, image_size=16)
    assert out["success_rate"] >= 0.95 and out["train"] == 8 and out["kept"] == 11
