"""torch.compile of the FQL update: ``CompiledStep`` and the modules' ``compile_mode`` (CPU backends only).

The ``eager`` backend checks Dynamo's capture of the update (no_grad regions, the functional call on
detached critic parameters, the optimizer) against plain PyTorch exactly. ``aot_eager`` also traces the
backward; its partitioner may reorder the noise draws, so that one is checked through invariants that
hold for any noise: the Polyak relation, which modules move, finite losses.
"""

import copy
from pathlib import Path

import pytest
import torch
from torch._dynamo.utils import counters

from litlab.rl.fql import FlowQLearning, FQLAgent, train_step
from litlab.rl.fql.graph import CompiledStep
from litlab.shared.cli import main

ROOT = Path(__file__).resolve().parents[3]
OBS, ACT, B = 5, 3, 16


def make_batch(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "observations": torch.randn(B, OBS, generator=g),
        "actions": torch.rand(B, ACT, generator=g) * 2 - 1,
        "rewards": torch.randn(B, generator=g),
        "masks": (torch.rand(B, generator=g) > 0.2).float(),
        "next_observations": torch.randn(B, OBS, generator=g),
    }


def agent_and_adam(seed: int = 0) -> tuple[FQLAgent, torch.optim.Adam]:
    torch.manual_seed(seed)
    agent = FQLAgent(OBS, ACT, hidden_dims=[16, 16], alpha=3.0, tau=0.1)
    return agent, torch.optim.Adam([p for p in agent.parameters() if p.requires_grad], lr=1e-2)


@pytest.mark.slow
def test_compiled_capture_matches_eager_update():
    agent, opt = agent_and_adam()
    twin = copy.deepcopy(agent)
    twin_opt = torch.optim.Adam([p for p in twin.parameters() if p.requires_grad], lr=1e-2)
    step, graphs = CompiledStep(backend="eager"), counters["stats"]["unique_graphs"]
    for i in range(2):
        batch = make_batch(i)
        torch.manual_seed(10 + i)
        ref = train_step(agent, opt, batch)
        torch.manual_seed(10 + i)
        got = step(twin, twin_opt, batch)
        assert ref.keys() == got.keys()
        for k in ref:
            torch.testing.assert_close(got[k], ref[k], rtol=1e-5, atol=1e-6, msg=k)
    for (name, p), q in zip(agent.named_parameters(), twin.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6, msg=name)
    assert counters["stats"]["unique_graphs"] >= graphs + 2  # the loss and the update were captured


@pytest.mark.slow
def test_aot_compiled_update_keeps_the_update_rules():
    agent, opt = agent_and_adam()
    before = copy.deepcopy(agent)
    info = CompiledStep(backend="aot_eager")(agent, opt, make_batch(0))
    assert all(torch.isfinite(v) for v in info.values())
    for name in ("flow", "onestep", "critic"):
        moved = [
            not torch.equal(p, q) for p, q in zip(getattr(agent, name).parameters(), getattr(before, name).parameters())
        ]
        assert all(moved), name
    for t, t0, c in zip(agent.target_critic.parameters(), before.target_critic.parameters(), agent.critic.parameters()):
        torch.testing.assert_close(t, 0.9 * t0 + 0.1 * c)  # Polyak toward the updated critic, tau = 0.1
        assert t.grad is None


def test_bad_compile_settings_are_rejected():
    with pytest.raises(ValueError, match="mode must be one of"):
        CompiledStep(mode="fastest")
    with pytest.raises(ValueError, match="compile_mode"):
        FlowQLearning(compile_mode="fastest", obs_dim=OBS, action_dim=ACT, hidden_dims=[8])


@pytest.mark.slow
def test_fit_with_compiled_loss(hopper_dataset, tmp_path):
    graphs = counters["stats"]["unique_graphs"]
    main([
        "fit", "--config", str(ROOT / "configs/trainer/cpu.yaml"), "--config", str(ROOT / "configs/rl/fql-hopper.yaml"),
        "--data.init_args.path", str(hopper_dataset), "--data.init_args.batch_size=16",
        "--model.init_args.hidden_dims=[16]", "--model.init_args.compile_mode=aot_eager", "--trainer.max_steps=2",
        "--trainer.callbacks=[]", "--trainer.default_root_dir", str(tmp_path), "--trainer.enable_progress_bar=false",
        "--trainer.log_every_n_steps=1",
    ])  # fmt: skip
    assert counters["stats"]["unique_graphs"] > graphs  # the loss went through torch.compile
    assert "train/critic_loss" in (tmp_path / "fql-hopper" / "version_0" / "metrics.csv").read_text()
