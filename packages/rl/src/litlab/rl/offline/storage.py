"""Offline RL datasets on disk: HF ``datasets`` in the D4RL field layout, plus a metadata file.

A dataset is a folder written by ``datasets.Dataset.save_to_disk`` with one row per transition and the
columns of D4RL / OGBench (``observations, actions, rewards, terminals, timeouts, next_observations``),
and a ``litlab_offline.json`` file with the metadata needed to evaluate on it (environment id, the
random and expert returns used for D4RL normalized scores, how it was generated).

``load_offline_dataset`` validates everything before any training starts: a missing folder, a missing
column, a NaN/inf value, mismatched lengths or shapes, or incomplete metadata raise a ``ValueError`` (or
``FileNotFoundError``) that names the dataset and the problem.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FIELDS = ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations")
METADATA_FILE = "litlab_offline.json"


@dataclass
class OfflineMetadata:
    """What an offline dataset needs beyond its transitions.

    ``random_return`` and ``expert_return`` define the D4RL normalized score
    ``100 * (R - random_return) / (expert_return - random_return)``.
    """

    env_id: str
    kind: str
    random_return: float
    expert_return: float
    extra: dict[str, Any] = field(default_factory=dict)

    def normalized_score(self, episode_return: float | np.ndarray) -> float | np.ndarray:
        return 100.0 * (episode_return - self.random_return) / (self.expert_return - self.random_return)


def save_offline_dataset(path: str | Path, arrays: dict[str, np.ndarray], metadata: OfflineMetadata) -> Path:
    """Validate ``arrays`` and write them with ``metadata`` as an HF dataset folder at ``path``."""
    import datasets

    arrays = validate_arrays(arrays, name=str(path))
    columns = {k: (list(v) if v.ndim > 1 else v) for k, v in arrays.items()}
    features = datasets.Features(
        {
            "observations": datasets.Sequence(datasets.Value("float32")),
            "actions": datasets.Sequence(datasets.Value("float32")),
            "rewards": datasets.Value("float32"),
            "terminals": datasets.Value("bool"),
            "timeouts": datasets.Value("bool"),
            "next_observations": datasets.Sequence(datasets.Value("float32")),
        }
    )
    ds = datasets.Dataset.from_dict(columns, features=features)
    path = Path(path)
    ds.save_to_disk(str(path))
    (path / METADATA_FILE).write_text(json.dumps(asdict(metadata), indent=2))
    return path


def validate_arrays(arrays: dict[str, np.ndarray], name: str) -> dict[str, np.ndarray]:
    """Return the arrays cast to float32/bool after checking keys, lengths, shapes and finiteness."""
    missing = [k for k in FIELDS if k not in arrays]
    if missing:
        raise ValueError(f"dataset {name!r}: missing keys {missing}; expected all of {list(FIELDS)}")
    out = {k: np.asarray(arrays[k]) for k in FIELDS}
    lengths = {k: len(v) for k, v in out.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"dataset {name!r}: mismatched lengths {lengths}; every field needs one row per step")
    if lengths["rewards"] == 0:
        raise ValueError(f"dataset {name!r}: has no transitions")
    for key in ("observations", "actions", "next_observations"):
        if out[key].ndim != 2:
            raise ValueError(f"dataset {name!r}: {key} must be 2-D (N, dim), got shape {out[key].shape}")
    if out["observations"].shape != out["next_observations"].shape:
        raise ValueError(
            f"dataset {name!r}: observations {out['observations'].shape} and next_observations "
            f"{out['next_observations'].shape} differ in shape"
        )
    for key in ("rewards", "terminals", "timeouts"):
        if out[key].ndim != 1:
            raise ValueError(f"dataset {name!r}: {key} must be 1-D (N,), got shape {out[key].shape}")
    for key in ("observations", "actions", "rewards", "next_observations"):
        out[key] = out[key].astype(np.float32)
        bad = int((~np.isfinite(out[key])).sum())
        if bad:
            raise ValueError(f"dataset {name!r}: {key} contains {bad} NaN/inf values")
    for key in ("terminals", "timeouts"):
        out[key] = out[key].astype(bool)
    return out


def generate_command(path: str | Path) -> str:
    """The generator command that writes ``path`` (``<out>/<task>-<kind>-v5``), its env read from the name."""
    path = Path(path)
    task = re.fullmatch(r"(.+?)-(random|medium|medium-replay|expert)-v5", path.name)
    env = "<Env>-v5"
    if task is not None:
        import gymnasium as gym

        env = next((k for k in gym.registry if k.lower() == f"{task.group(1)}-v5"), env)
    return f"python -m litlab.rl.offline --env {env} --out {path.parent}"


def load_offline_dataset(path: str | Path) -> tuple[dict[str, np.ndarray], OfflineMetadata]:
    """Load and validate a dataset folder written by :func:`save_offline_dataset`."""
    import datasets

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"offline dataset {str(path)!r} does not exist; generate it with "
                                f"`{generate_command(path)}` (see packages/rl/README.md)")  # fmt: skip
    meta_file = path / METADATA_FILE
    if not meta_file.is_file():
        raise ValueError(f"dataset {str(path)!r}: no {METADATA_FILE}; it was not written by save_offline_dataset")
    try:
        meta = OfflineMetadata(**json.loads(meta_file.read_text()))
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"dataset {str(path)!r}: malformed {METADATA_FILE}: {exc}") from None
    if not meta.expert_return > meta.random_return:
        raise ValueError(
            f"dataset {str(path)!r}: expert_return {meta.expert_return} must exceed random_return "
            f"{meta.random_return} for normalized scores"
        )
    ds = datasets.load_from_disk(str(path))
    missing = [k for k in FIELDS if k not in ds.column_names]
    if missing:
        raise ValueError(f"dataset {str(path)!r}: missing keys {missing}; expected all of {list(FIELDS)}")
    ds = ds.with_format("numpy")
    arrays = {k: np.asarray(ds[k]) for k in FIELDS}
    return validate_arrays(arrays, name=str(path)), meta
