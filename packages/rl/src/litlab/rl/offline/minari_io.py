"""Minari (Farama's offline-RL format) export and import for litlab's offline datasets.

    python -m litlab.rl.offline.minari_io export data/rl/hopper-medium-v5 litlab/hopper/medium-v0
    python -m litlab.rl.offline.minari_io import litlab/hopper/medium-v0 data/rl/hopper-medium-minari

Minari datasets live under ``MINARI_DATASETS_PATH`` (default ``~/.minari/datasets``); nothing is downloaded.
The two layouts differ in four ways, each handled here:

- **Episodes.** litlab stores a flat stream of transitions; Minari stores episodes, each with T + 1
  observations (the last is the final one) and T actions, rewards, terminations and truncations. litlab
  datasets written by ``collect_transitions`` are stored episode by episode with every end flagged
  (``episode_layout: "contiguous"`` in the metadata); older ones interleaved the parallel environments
  round-robin (row r came from env r % num_envs): pass ``num_envs`` to export those. The stream's last row
  ends an episode even where it carries no flag (collection stopped there): it becomes a truncation.
- **Consistency.** Inside an episode ``next_observations[t]`` must equal ``observations[t + 1]``; an export
  that finds otherwise (a wrong ``num_envs``) is refused, naming the row.
- **Scores.** litlab's normalized score is ``100 * (R - random_return) / (expert_return - random_return)``
  (D4RL's 0-100); Minari's ``get_normalized_score`` is the same ratio without the 100 (0-1). The returns
  travel as ``ref_min_score`` / ``ref_max_score``, and the litlab metadata, with ``normalized_score_scale``,
  is kept in the Minari metadata under ``litlab``.
- **Dtypes.** litlab stores float32; the env's observation space may be float64 (MuJoCo). Exported
  observations are cast to the space's dtype (exact for float32 values) and cast back to float32 on import.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from litlab.rl.offline.storage import OfflineMetadata, load_offline_dataset, save_offline_dataset

SCORE_SCALE = {"litlab": 100.0, "minari": 1.0}


def split_episodes(arrays: dict[str, np.ndarray], meta: OfflineMetadata, num_envs: int | None = None) -> list[dict]:
    """The dataset's episodes in order, each a dict of the litlab fields sliced to that episode.

    ``num_envs`` is needed only for datasets stored round-robin across environments (no
    ``episode_layout: "contiguous"`` in their metadata)."""
    n = len(arrays["rewards"])
    if meta.extra.get("episode_layout") == "contiguous":
        order = np.arange(n)
        env_of = np.zeros(n, dtype=np.int64)  # a flagged end separates the environments' streams
    elif num_envs is not None and num_envs > 0:
        env_of = np.arange(n) % num_envs
        order = np.argsort(env_of, kind="stable")
        env_of = env_of[order]
    else:
        raise ValueError(
            f"dataset of {meta.env_id} ({meta.kind}): its metadata has no episode_layout 'contiguous', so its rows "
            f"may interleave parallel environments; pass num_envs (the --num-envs it was generated with), "
            f"got {num_envs}"
        )
    data = {k: v[order] for k, v in arrays.items()}
    ends = data["terminals"] | data["timeouts"]
    ends |= np.r_[env_of[1:] != env_of[:-1], True]  # each environment's last row, flagged or not
    starts = np.r_[0, np.flatnonzero(ends)[:-1] + 1]
    episodes = []
    for lo, hi in zip(starts, np.flatnonzero(ends) + 1, strict=True):
        ep = {k: v[lo:hi] for k, v in data.items()}
        bad = np.flatnonzero((ep["next_observations"][:-1] != ep["observations"][1:]).any(axis=1))
        if bad.size:
            raise ValueError(
                f"dataset of {meta.env_id}: row {int(order[lo + bad[0]])} is followed in its episode by a row whose "
                "observation is not its next_observation; the episode layout (num_envs) is wrong"
            )
        ep["truncated_at_end"] = not (ep["terminals"][-1] or ep["timeouts"][-1])
        episodes.append(ep)
    return episodes


def to_minari(path: str | Path, dataset_id: str, num_envs: int | None = None, data_format: str = "arrow"):
    """Write the litlab dataset at ``path`` as the local Minari dataset ``dataset_id``; return it."""
    import gymnasium as gym
    import minari
    from minari.data_collector import EpisodeBuffer

    arrays, meta = load_offline_dataset(path)
    env = gym.make(meta.env_id)
    obs_dtype = env.observation_space.dtype
    buffers = []
    for i, ep in enumerate(split_episodes(arrays, meta, num_envs)):
        obs = np.concatenate([ep["observations"], ep["next_observations"][-1:]]).astype(obs_dtype)
        truncations = ep["timeouts"].copy()
        truncations[-1] |= ep["truncated_at_end"]
        buffers.append(
            EpisodeBuffer(
                id=i,
                observations=obs,
                actions=ep["actions"].astype(env.action_space.dtype),
                rewards=ep["rewards"].astype(np.float64).tolist(),
                terminations=ep["terminals"].tolist(),
                truncations=truncations.tolist(),
            )
        )
    dataset = minari.create_dataset_from_buffers(
        dataset_id,
        buffers,
        env=env,
        algorithm_name=f"litlab {meta.kind}",
        ref_min_score=meta.random_return,
        ref_max_score=meta.expert_return,
        description=f"litlab offline dataset {meta.env_id} {meta.kind}, exported from {Path(path).name}",
        data_format=data_format,
    )
    litlab_meta = dict(asdict(meta), normalized_score_scale=SCORE_SCALE["litlab"], num_episodes=len(buffers))
    dataset.storage.update_metadata({"litlab": json.dumps(litlab_meta)})
    env.close()
    return dataset


def from_minari(dataset) -> tuple[dict[str, np.ndarray], OfflineMetadata]:
    """Arrays and metadata of a loaded ``minari.MinariDataset`` (or a local dataset id) in litlab's layout."""
    import minari

    if isinstance(dataset, str):
        dataset = minari.load_dataset(dataset)
    info = dataset.storage.metadata
    stored = json.loads(info["litlab"]) if "litlab" in info else None
    if stored is None and (info.get("ref_min_score") is None or info.get("ref_max_score") is None):
        raise ValueError(f"Minari dataset {dataset.spec.dataset_id!r} has no ref_min_score/ref_max_score; litlab needs "
                         "both (the random and expert returns) for normalized scores")  # fmt: skip
    cols: dict[str, list] = {k: [] for k in ("observations", "actions", "rewards", "terminals", "timeouts")}
    cols["next_observations"] = []
    for ep in dataset.iterate_episodes():
        obs = np.asarray(ep.observations)
        if obs.ndim != 2:
            raise ValueError(f"Minari dataset {dataset.spec.dataset_id!r}: observations of shape {obs.shape}; litlab "
                             "offline datasets hold flat vectors (T + 1, obs_dim)")  # fmt: skip
        for key, value in zip(cols, (obs[:-1], ep.actions, ep.rewards, ep.terminations, ep.truncations, obs[1:]),
                              strict=True):  # fmt: skip
            cols[key].append(np.asarray(value))
    arrays = {k: np.concatenate(v) for k, v in cols.items()}
    for key in ("observations", "actions", "rewards", "next_observations"):
        arrays[key] = arrays[key].astype(np.float32)  # litlab's dtype (the env's space may be float64)
    arrays["terminals"] = arrays["terminals"].astype(bool)
    arrays["timeouts"] = arrays["timeouts"].astype(bool) & ~arrays["terminals"]
    if stored is not None:
        meta = OfflineMetadata(
            **{k: v for k, v in stored.items() if k not in ("normalized_score_scale", "num_episodes")}
        )
    else:
        env_id = dataset.spec.env_spec.id if dataset.spec.env_spec is not None else ""
        low, high = float(info["ref_min_score"]), float(info["ref_max_score"])
        source = {"source": f"minari:{dataset.spec.dataset_id}"}
        meta = OfflineMetadata(env_id, dataset.spec.dataset_id, low, high, source)
    meta.extra = dict(meta.extra, episode_layout="contiguous")
    return arrays, meta


def from_minari_to_disk(dataset_id: str, out: str | Path) -> Path:
    """Import the local Minari dataset ``dataset_id`` and save it as a litlab dataset folder at ``out``."""
    arrays, meta = from_minari(dataset_id)
    return save_offline_dataset(out, arrays, meta)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m litlab.rl.offline.minari_io", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    exp = sub.add_parser("export", help="litlab dataset folder -> local Minari dataset")
    exp.add_argument("path"), exp.add_argument("dataset_id")
    exp.add_argument("--num-envs", type=int, default=None, help="only for datasets stored round-robin")
    exp.add_argument("--data-format", default="arrow", choices=["arrow", "hdf5"], help="hdf5 needs h5py")
    imp = sub.add_parser("import", help="local Minari dataset -> litlab dataset folder")
    imp.add_argument("dataset_id"), imp.add_argument("out")
    args = p.parse_args(argv)
    if args.command == "export":
        ds = to_minari(args.path, args.dataset_id, args.num_envs, args.data_format)
        print(f"{args.dataset_id}: {ds.total_episodes} episodes, {ds.total_steps} steps")
    else:
        print(from_minari_to_disk(args.dataset_id, args.out))


if __name__ == "__main__":
    main()
