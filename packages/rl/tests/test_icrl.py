"""InContextAgent: per-group modules, a few training steps on real histories, a cold-start rollout."""

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer

from litlab.attention import Backbone
from litlab.rl.envs import get_spec
from litlab.rl.histories import generate
from litlab.rl.icrl import GroupIO, GroupSpec, HistoryDataModule, ICRLEvalCallback, InContextAgent


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("icrl") / "tiny"
    spec = get_spec("darkroom_tiny")
    tasks = [int(t) for t in np.concatenate([spec.split()["train"][:6], spec.split()["test"][:2]])]
    generate(root, spec, tasks, 40, 0.3, tasks_per_job=4)
    return root


def test_stacked_tokens_use_padding_at_episode_starts():
    io = GroupIO(GroupSpec("discrete", 25, "discrete", 5), 16, "stacked", 2)
    io.pad_act.data.fill_(7.0)
    x = io.encode(torch.tensor([[3, 4]]), torch.tensor([[1, 2]]), torch.tensor([[0.0, 1.0]]), torch.tensor([[0, 1]]))
    assert x.shape == (1, 2, 16) and torch.all(x[0, 0, 7:14] == 7.0) and not torch.all(x[0, 1, 7:14] == 7.0)
    assert GroupIO(GroupSpec("discrete", 25, "discrete", 5), 16, "interleaved").encode_interleaved(
        torch.tensor([[3, 4]]), torch.tensor([[1, 2]]), torch.tensor([[0.0, 1.0]])
    ).shape == (1, 6, 16)


@pytest.mark.parametrize("pattern, tokens", [("L", "stacked"), ("S", "interleaved")])
def test_fit_few_steps_and_evaluate(tiny_set, tmp_path, pattern, tokens):
    torch.manual_seed(0)
    kw = {"position": "alibi", "qk_norm": True, "window": 60} if pattern == "S" else {}
    agent = InContextAgent(Backbone(34, 2, 2, 8, pattern=pattern, **kw), tokens=tokens, test_episodes=3, test_seeds=2)
    dm = HistoryDataModule([str(tiny_set)], context=20, batch_size=4, val_windows=8)
    cb = ICRLEvalCallback(episodes=3, seeds=2)
    trainer = Trainer(max_steps=3, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, callbacks=[cb], default_root_dir=tmp_path,
                      limit_val_batches=1)  # fmt: skip
    trainer.fit(agent, dm)
    assert sorted(agent.io) == ["grid5x5-discrete5"]
    assert (tmp_path / "icrl_eval.png").stat().st_size > 0
    trainer.test(agent, dm)
    assert "test/return_shot1" in trainer.callback_metrics
    rows = trainer.predict(agent, dm)[0]
    assert len(rows) == 5 * 2 and len(rows[0]["returns"]) == 3  # all 5 held-out goals x 2 seeds
