"""An offline-RL recipe on a fresh clone: a missing dataset is generated first when data.generate is set."""

import numpy as np
import pytest

import litlab.rl.offline.__main__ as generator
from litlab.rl.offline.collect import collect_transitions, random_policy
from litlab.rl.offline.datamodule import OfflineRLDataModule
from litlab.rl.offline.storage import OfflineMetadata, save_offline_dataset


@pytest.fixture
def fake_generate(monkeypatch):
    """Replaces the SAC pipeline (minutes) by a random-policy dataset; records the arguments it got."""
    calls = []

    def generate(args):
        import gymnasium as gym

        calls.append(args)
        box = gym.make(args.env).action_space
        arrays, returns = collect_transitions(args.env, random_policy(box, 0), 200, num_envs=args.num_envs)
        meta = OfflineMetadata(args.env, "medium", float(np.mean(returns)), float(np.mean(returns)) + 50.0)
        task = args.env.split("-")[0].lower()
        return {"medium": save_offline_dataset(f"{args.out}/{task}-medium-v5", arrays, meta)}

    monkeypatch.setattr(generator, "generate", generate)
    return calls


def test_missing_dataset_is_generated_once_with_the_given_options(tmp_path, fake_generate):
    path = str(tmp_path / "rl" / "hopper-medium-v5")
    dm = OfflineRLDataModule(path, batch_size=4, generate={"env": "Hopper-v5", "sac_steps": 1234, "num_envs": 2})
    dm.setup()
    assert dm.obs_dim == 11 and dm.action_dim == 3
    (args,) = fake_generate
    assert (args.env, args.out, args.sac_steps, args.num_envs) == ("Hopper-v5", str(tmp_path / "rl"), 1234, 2)
    assert args.medium_size == 50_000  # untouched options keep the generator's defaults
    OfflineRLDataModule(path, batch_size=4, generate={"env": "Hopper-v5"}).setup()
    assert len(fake_generate) == 1  # the second module finds the dataset


def test_generate_options_are_checked(tmp_path, fake_generate):
    with pytest.raises(ValueError, match="must name the env"):
        OfflineRLDataModule(str(tmp_path / "x"), generate={"sac_steps": 10})
    with pytest.raises(ValueError, match="unknown option 'sac_step'"):
        OfflineRLDataModule(str(tmp_path / "x"), generate={"env": "Hopper-v5", "sac_step": 10}).setup()
    with pytest.raises(FileNotFoundError, match="point path at one of them"):
        OfflineRLDataModule(str(tmp_path / "hopper-expert-v9"), generate={"env": "Hopper-v5"}).setup()
