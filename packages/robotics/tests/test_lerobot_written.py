"""Datasets in the layout LeRobot itself writes (v3.0): no ``next.success`` unless declared, cameras as video.

The fixture follows LeRobot 0.4's writer (``LeRobotDataset.create`` + ``save_episode``): the data parquet has
only the declared features plus the five index columns, a video camera is absent from it and lives in one
mp4 holding both episodes back to back, located per episode by ``meta/episodes``' ``videos/<key>/*``
columns. (lerobot itself caps torch below 2.11 and cannot be installed beside litlab's torch.)
"""

import builtins
import json

import numpy as np
import pandas as pd
import pytest

from litlab.robotics.data.lerobot_v3 import LeRobotV3Dataset

FPS, SIZE, LENGTHS, KEY = 10, 32, (4, 3), "observation.images.front"


def _colour(episode: int, frame: int) -> int:
    return 20 + 60 * episode + 15 * frame  # one flat grey level per frame, far apart after lossy coding


def _write_video(path, levels):
    av = pytest.importorskip("av")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=FPS)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for level in levels:
            frame = av.VideoFrame.from_ndarray(np.full((SIZE, SIZE, 3), level, np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def write_lerobot_style(root, video: bool):
    rng = np.random.default_rng(0)
    n = sum(LENGTHS)
    episode_index = np.repeat(np.arange(len(LENGTHS)), LENGTHS)
    frame_index = np.concatenate([np.arange(k) for k in LENGTHS])
    data = pd.DataFrame({
        "observation.state": list(rng.normal(size=(n, 2)).astype(np.float32)),
        "action": list(rng.normal(size=(n, 2)).astype(np.float32)),
        "timestamp": (frame_index / FPS).astype(np.float32), "frame_index": frame_index,
        "episode_index": episode_index, "index": np.arange(n), "task_index": np.zeros(n, dtype=np.int64),
    })  # fmt: skip
    (root / "data" / "chunk-000").mkdir(parents=True)
    data.to_parquet(root / "data" / "chunk-000" / "file-000.parquet")
    features = {
        "observation.state": {"dtype": "float32", "shape": [2], "names": ["x", "y"]},
        "action": {"dtype": "float32", "shape": [2], "names": ["vx", "vy"]},
        **{k: {"dtype": d, "shape": [1], "names": None} for k, d in (("timestamp", "float32"),
           ("frame_index", "int64"), ("episode_index", "int64"), ("index", "int64"), ("task_index", "int64"))},
    }  # fmt: skip
    starts = np.r_[0, np.cumsum(LENGTHS)[:-1]]
    episodes = pd.DataFrame({"episode_index": range(len(LENGTHS)), "tasks": [["reach"]] * len(LENGTHS),
                             "length": LENGTHS, "data/chunk_index": 0, "data/file_index": 0,
                             "dataset_from_index": starts, "dataset_to_index": starts + np.array(LENGTHS)})  # fmt: skip
    if video:
        features[KEY] = {"dtype": "video", "shape": [SIZE, SIZE, 3], "names": ["height", "width", "channels"],
                         "info": {"video.fps": FPS, "video.codec": "mpeg4", "video.pix_fmt": "yuv420p"}}  # fmt: skip
        episodes[f"videos/{KEY}/chunk_index"] = 0
        episodes[f"videos/{KEY}/file_index"] = 0
        episodes[f"videos/{KEY}/from_timestamp"] = starts / FPS
        episodes[f"videos/{KEY}/to_timestamp"] = (starts + np.array(LENGTHS)) / FPS
        levels = [_colour(e, f) for e, f in zip(episode_index, frame_index, strict=True)]
        _write_video(root / "videos" / KEY / "chunk-000" / "file-000.mp4", levels)
    (root / "meta" / "episodes" / "chunk-000").mkdir(parents=True)
    episodes.to_parquet(root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    tasks = pd.DataFrame({"task_index": [0]}, index=pd.Index(["reach"], name="task"))
    tasks.to_parquet(root / "meta" / "tasks.parquet")
    info = {"codebase_version": "v3.0", "robot_type": "pointmass", "total_episodes": len(LENGTHS), "total_frames": n,
            "total_tasks": 1, "chunks_size": 1000, "fps": FPS, "splits": {"train": f"0:{len(LENGTHS)}"},
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4" if video else None,
            "features": features}  # fmt: skip
    (root / "meta" / "info.json").write_text(json.dumps(info))
    stats = {k: {"mean": [0.0, 0.0], "std": [1.0, 1.0]} for k in ("observation.state", "action")}
    (root / "meta" / "stats.json").write_text(json.dumps(stats))
    return data


def test_dataset_without_next_success_loads(tmp_path):
    data = write_lerobot_style(tmp_path, video=False)
    ds = LeRobotV3Dataset(tmp_path)
    assert len(ds) == sum(LENGTHS) and ds.image_keys == [] and "next.success" not in ds.columns
    ep = ds.episode(1)
    assert ep["success"] is None and ep["task"] == "reach"
    np.testing.assert_array_equal(ep["action"], np.stack(data["action"][4:7]))


def test_video_dataset_decodes_the_camera(tmp_path):
    pytest.importorskip("av")
    write_lerobot_style(tmp_path, video=True)
    ds = LeRobotV3Dataset(tmp_path)
    assert ds.image_keys == [KEY]  # the camera is there, not dropped
    for row, (e, f) in enumerate([(e, f) for e, k in enumerate(LENGTHS) for f in range(k)]):
        frame = ds.image(KEY, row)
        assert frame.shape == (SIZE, SIZE, 3) and frame.dtype == np.uint8
        assert abs(frame.astype(float).mean() - _colour(e, f)) < 5, (row, frame.mean())
    assert ds.episode(1)["image"].shape == (3, SIZE, SIZE, 3)


def test_video_that_disagrees_with_the_data_is_an_error(tmp_path):
    pytest.importorskip("av")
    write_lerobot_style(tmp_path, video=True)
    path = tmp_path / "meta" / "episodes" / "chunk-000" / "file-000.parquet"
    episodes = pd.read_parquet(path)
    episodes.loc[1, f"videos/{KEY}/from_timestamp"] += 1.0  # points past the end of the file
    episodes.to_parquet(path)
    with pytest.raises(ValueError, match="has no frame within"):
        LeRobotV3Dataset(tmp_path)


def test_video_dataset_without_a_decoder_is_refused_by_name(tmp_path, monkeypatch):
    pytest.importorskip("av")
    write_lerobot_style(tmp_path, video=True)
    real_import = builtins.__import__

    def no_av(name, *args, **kwargs):
        if name == "av":
            raise ImportError("No module named 'av'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_av)
    with pytest.raises(ImportError, match=r"observation\.images\.front.*pip install av"):
        LeRobotV3Dataset(tmp_path)
