"""``OfflineRLDataModule``: uniform transition sampling from an offline dataset on disk.

Every training step draws ``batch_size`` transition indices uniformly with replacement (as the reference
FQL/IQL implementations do), so an "epoch" has no meaning: the loader is infinite and ``max_steps``
ends training. Batches are dicts of tensors: ``observations, actions, rewards, masks, next_observations``
with ``masks = 1 - terminals`` (a time-limit cut still bootstraps).

With ``with_next_actions`` (ReBRAC's critic penalty), batches also hold ``next_actions``, the dataset's
action at s', and ``next_action_masks`` (0 where it is unknown: at terminals, time-limit cuts and the end of
the data). ``collect_transitions`` now stores each environment's episodes contiguously, but older datasets
interleave parallel environments, so the next transition is found by matching ``next_observations[i]`` to a
later ``observations[j]``, not assumed to be ``i + 1``.

``litlab test`` and ``litlab predict`` roll the policy out in the dataset's environment for ``test_episodes``
episodes whose reset seeds start at ``test_seed`` (far from the training-time evaluation's seeds 0..): the
loaders yield one batch of those seeds; the module steps the episodes.

Before any step, ``setup`` checks that the metadata's environment exists and that its observation and action
sizes are the dataset's (else training would run and the first evaluation would crash).

Dataset actions are clipped to +-``action_clip`` (1 - 1e-5 as in the authors' code, so that a flow or
tanh policy can represent them); the number of clipped entries is logged.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, IterableDataset

from litlab.rl.offline.storage import OfflineMetadata, load_offline_dataset

log = logging.getLogger(__name__)


def next_transition_indices(observations: np.ndarray, next_observations: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """For each transition i, the smallest j > i with observations[j] == next_observations[i] (bitwise), else -1.

    ``ends`` (bool, (N,)) marks transitions after which the episode stops (terminal or time limit): -1 there.
    """
    nearest: dict[bytes, int] = {}  # observation -> its smallest index above the current i
    idx = np.full(len(observations), -1, dtype=np.int64)
    for i in range(len(observations) - 1, -1, -1):
        if not ends[i]:
            idx[i] = nearest.get(next_observations[i].tobytes(), -1)
        nearest[observations[i].tobytes()] = i
    return idx


class UniformTransitions(IterableDataset):
    """An endless stream of uniformly sampled batches from in-memory tensors."""

    def __init__(self, tensors: dict[str, torch.Tensor], batch_size: int, seed: int) -> None:
        self.tensors, self.batch_size, self.seed = tensors, batch_size, seed
        self.size = len(tensors["rewards"])

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed)
        while True:
            idx = torch.randint(self.size, (self.batch_size,), generator=gen)
            yield {k: v[idx] for k, v in self.tensors.items()}


class OfflineRLDataModule(LightningDataModule):
    """Loads an offline dataset written by ``python -m litlab.rl.offline`` and samples transitions."""

    def __init__(
        self,
        path: str,
        batch_size: int = 256,
        seed: int = 0,
        action_clip: float = 1.0 - 1e-5,
        with_next_actions: bool = False,
        test_episodes: int = 10,
        test_seed: int = 100_000,
        max_episode_steps: int | None = None,
        generate: dict | None = None,
    ) -> None:
        """
        Args:
            path: folder of the dataset (e.g. data/rl/hopper-medium-v5).
            batch_size: transitions per training step.
            seed: seed of the index sampler.
            action_clip: dataset actions are clipped to [-action_clip, action_clip] (count logged).
            with_next_actions: also give next_actions and next_action_masks (needed by ReBRAC).
            test_episodes: episodes of ``litlab test`` / ``litlab predict`` (run in lock-step).
            test_seed: reset seed of the first test episode (episode i uses test_seed + i).
            max_episode_steps: time limit of the test episodes (None keeps the environment's).
            generate: where ``path`` holds no dataset, run ``python -m litlab.rl.offline`` first with these options
                (``env`` required, e.g. ``{env: Hopper-v5}``; other keys are its flags with underscores, defaults
                otherwise) into ``path``'s parent folder; needs stable-baselines3. None: refuse a missing path.
        """
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 < action_clip <= 1:
            raise ValueError(f"action_clip must be in (0, 1], got {action_clip}")
        if test_episodes < 1:
            raise ValueError(f"test_episodes must be >= 1, got {test_episodes}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1 or None, got {max_episode_steps}")
        self.test_episodes, self.test_seed, self.max_episode_steps = test_episodes, test_seed, max_episode_steps
        self.path, self.batch_size, self.seed, self.action_clip = path, batch_size, seed, action_clip
        self.with_next_actions, self.generate = with_next_actions, generate
        if generate is not None and "env" not in generate:
            raise ValueError(f"generate must name the env (e.g. {{env: Hopper-v5}}), got {generate!r}")
        self.tensors: dict[str, torch.Tensor] | None = None
        self.metadata: OfflineMetadata | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.tensors is not None:
            return
        if self.generate is not None:
            generate_if_missing(self.path, self.generate)
        arrays, self.metadata = load_offline_dataset(self.path)
        check_env_sizes(self.path, self.metadata.env_id, arrays["observations"].shape[1], arrays["actions"].shape[1])
        actions = arrays["actions"]
        clipped = int((np.abs(actions) > self.action_clip).sum())
        if clipped:
            log.info("%s: clipped %d of %d action entries to +-%g", self.path, clipped, actions.size, self.action_clip)
        self.num_clipped_actions = clipped
        self.tensors = {
            "observations": torch.from_numpy(arrays["observations"]),
            "actions": torch.from_numpy(np.clip(actions, -self.action_clip, self.action_clip)),
            "rewards": torch.from_numpy(arrays["rewards"]),
            "masks": torch.from_numpy(1.0 - arrays["terminals"].astype(np.float32)),
            "next_observations": torch.from_numpy(arrays["next_observations"]),
        }
        if self.with_next_actions:
            ends = arrays["terminals"].astype(bool) | arrays["timeouts"].astype(bool)
            idx = next_transition_indices(arrays["observations"], arrays["next_observations"], ends)
            self.tensors["next_actions"] = self.tensors["actions"][torch.from_numpy(idx.clip(min=0))]
            self.tensors["next_action_masks"] = torch.from_numpy((idx >= 0).astype(np.float32))

    @property
    def obs_dim(self) -> int:
        """Observation size (linked to the agent's ``obs_dim``); loads the dataset if needed."""
        self.setup()
        return self.tensors["observations"].shape[1]

    @property
    def action_dim(self) -> int:
        """Action size (linked to the agent's ``action_dim``); loads the dataset if needed."""
        self.setup()
        return self.tensors["actions"].shape[1]

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return DataLoader(UniformTransitions(self.tensors, self.batch_size, self.seed), batch_size=None)

    def test_dataloader(self) -> DataLoader:
        """One batch: the reset seeds [test_episodes] of the test episodes."""
        seeds = torch.arange(self.test_seed, self.test_seed + self.test_episodes)
        return DataLoader([seeds], batch_size=None)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()


def generate_if_missing(path: str, options: dict) -> None:
    """Write the offline datasets of ``options["env"]`` next to ``path`` unless ``path`` exists already."""
    from pathlib import Path

    if Path(path).is_dir():
        return
    from litlab.rl.offline.__main__ import _parser, generate

    args = _parser().parse_args(["--env", str(options["env"]), "--out", str(Path(path).parent)])
    for key, value in options.items():
        if key != "env" and not hasattr(args, key):
            raise ValueError(f"generate: unknown option {key!r}; expected env and any of {sorted(vars(args))}")
        setattr(args, key, value)
    print(f"litlab: {path} does not exist; generating the {args.env} datasets into {args.out} (once)")
    written = generate(args)
    if not Path(path).is_dir():
        raise FileNotFoundError(f"generate wrote {[str(p) for p in written.values()]}, not path={path!r}; "
                                "point path at one of them")  # fmt: skip


def check_env_sizes(path: str, env_id: str, obs_dim: int, action_dim: int) -> None:
    """Raise ValueError unless ``env_id`` is a registered gymnasium id with these observation/action sizes.

    Skipped where gymnasium is not installed (the GPU benchmark image trains without environments).
    """
    try:
        import gymnasium as gym
    except ImportError:
        return
    if env_id not in gym.registry:
        raise ValueError(f"dataset {path!r}: its metadata names env_id {env_id!r}, which gymnasium does not know "
                         "(expected a registered id such as Hopper-v5)")  # fmt: skip
    env = gym.make(env_id)
    obs_shape, act_shape = env.observation_space.shape, env.action_space.shape
    env.close()
    if obs_shape != (obs_dim,) or act_shape != (action_dim,):
        raise ValueError(f"dataset {path!r}: observations of size {obs_dim} and actions of size {action_dim}, "
                         f"but its env {env_id} has observation shape {obs_shape} and action shape "
                         f"{act_shape}")  # fmt: skip
