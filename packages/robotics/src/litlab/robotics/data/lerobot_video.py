"""Video features of LeRobot v3 datasets (``use_videos=True``, LeRobot's default), decoded with PyAV.

In the v3 layout a camera stored as video is absent from the data parquet files; its frames live in
``videos/<key>/chunk-XXX/file-YYY.mp4`` (``info["video_path"]``), several episodes per file, and each row of
``meta/episodes`` gives the episode's file (``videos/<key>/chunk_index``, ``videos/<key>/file_index``) and its
start in it (``videos/<key>/from_timestamp``). Frame ``i`` of an episode is the video frame shown at
``from_timestamp + timestamp[i]``; like LeRobot, a frame further than a tolerance (here half a frame period)
from that time is an error, not a silent neighbour. LeRobot decodes with torchcodec or PyAV; PyAV
(``pip install av``, the ``litlab-robotics[video]`` extra) is used here, and a video dataset without it is
refused with a message that names the features, never loaded with the camera dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DEFAULT_VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"


def require_decoder(root: Path, video_keys: list[str]) -> None:
    """Raise ImportError naming the video features when PyAV is not installed."""
    try:
        import av  # noqa: F401
    except ImportError:
        raise ImportError(
            f"{root}: features {video_keys} are stored as video (LeRobot's default use_videos=True); decoding them "
            "needs PyAV: pip install av (or litlab-robotics[video])"
        ) from None


def _decode_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """All frames of one video file: (timestamps [F] in seconds, frames [F, H, W, 3] uint8)."""
    import av

    if not path.is_file():
        raise FileNotFoundError(f"video file {path} not found (named by meta/episodes and info.json video_path)")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [(float(f.pts * stream.time_base), f.to_ndarray(format="rgb24")) for f in container.decode(stream)]
    if not frames:
        raise ValueError(f"video file {path} has no frames")
    times, images = zip(*frames, strict=True)
    return np.asarray(times), np.stack(images)


def decode_video_feature(root: Path, info: dict, episodes, key: str, episode_index: np.ndarray,
                         timestamp: np.ndarray) -> np.ndarray:  # fmt: skip
    """Frames [N, H, W, 3] uint8 of video feature ``key`` for the dataset rows (episode_index [N], timestamp [N])."""
    cols = [f"videos/{key}/chunk_index", f"videos/{key}/file_index", f"videos/{key}/from_timestamp"]
    missing = [c for c in cols if c not in episodes.columns]
    if missing:
        raise ValueError(f"{root}/meta/episodes: video feature {key!r} needs the columns {missing}")
    pattern = info.get("video_path") or DEFAULT_VIDEO_PATH
    tolerance = 0.5 / float(info["fps"])
    files: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    out = None
    for e in np.unique(episode_index):
        row = episodes.loc[episodes["episode_index"] == e].iloc[0]
        chunk, file = int(row[cols[0]]), int(row[cols[1]])
        if (chunk, file) not in files:
            path = root / pattern.format(video_key=key, chunk_index=chunk, file_index=file)
            files[chunk, file] = _decode_file(path)
        times, images = files[chunk, file]
        rows = np.flatnonzero(episode_index == e)
        wanted = float(row[cols[2]]) + timestamp[rows].astype(np.float64)
        nearest = np.abs(times[None, :] - wanted[:, None]).argmin(axis=1)
        off = np.abs(times[nearest] - wanted)
        if (off > tolerance).any():
            bad, at = int(rows[off.argmax()]), wanted[off.argmax()]
            raise ValueError(f"{root}: video {key!r} has no frame within {tolerance:.4f} s of row {bad}'s time "
                             f"{at:.4f} s (episode {int(e)}); the video and the data disagree")  # fmt: skip
        if out is None:
            out = np.zeros((len(episode_index), *images.shape[1:]), dtype=np.uint8)
        out[rows] = images[nearest]
    return out
