"""FQL agent: the stop-gradient points, fresh noise, ensemble mean, Polyak, baselines."""

import copy

import pytest
import torch

from litlab.rl.fql import FlowBCAgent, FQLAgent, IQLAgent, train_step
from litlab.rl.fql.nets import Critic

OBS, ACT, B = 5, 3, 16


def make_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "observations": torch.randn(B, OBS, generator=g),
        "actions": torch.rand(B, ACT, generator=g) * 2 - 1,
        "rewards": torch.randn(B, generator=g),
        "masks": (torch.rand(B, generator=g) > 0.2).float(),
        "next_observations": torch.randn(B, OBS, generator=g),
    }


def touched(agent: FQLAgent) -> set[str]:
    """Names of the sub-modules that received a non-zero gradient."""
    names = set()
    for name in ("flow", "onestep", "critic", "target_critic"):
        grads = [p.grad for p in getattr(agent, name).parameters() if p.grad is not None]
        if any(g.abs().sum() > 0 for g in grads):
            names.add(name)
    return names


@pytest.fixture
def agent():
    torch.manual_seed(0)
    return FQLAgent(OBS, ACT, hidden_dims=[32, 32], alpha=3.0)


def test_each_term_reaches_only_its_module(agent):
    batch = make_batch()
    obs, actions = batch["observations"], batch["actions"]
    agent.critic_loss(batch)[0].backward()
    assert touched(agent) == {"critic"}  # no gradient through the target critic or mu(s')
    agent.zero_grad()
    agent.flow_bc_term(obs, actions)[0].backward()
    assert touched(agent) == {"flow"}
    agent.zero_grad()
    distill, mu, _ = agent.distill_term(obs, torch.randn(B, ACT))
    distill.backward()
    assert touched(agent) == {"onestep"}  # nothing reaches the flow through the distillation target
    agent.zero_grad()
    agent.q_term(obs, agent.onestep(obs, torch.randn(B, ACT)))[0].backward()
    assert touched(agent) == {"onestep"}  # the critic is frozen in the policy term
    agent.zero_grad()
    agent.loss(batch)[0].backward()
    assert touched(agent) == {"flow", "onestep", "critic"}
    assert all(not p.requires_grad for p in agent.target_critic.parameters())


def test_q_term_is_ensemble_mean_even_with_min(agent):
    agent.q_agg = "min"
    obs = torch.randn(B, OBS)
    mu = torch.randn(B, ACT) * 2  # some entries outside [-1, 1]: Q sees the clipped action
    q = agent.critic(obs, mu.clamp(-1, 1))
    loss, _ = agent.q_term(obs, mu)
    assert torch.allclose(loss, -q.mean(0).mean())
    assert not torch.allclose(q[0], q[1])  # the members differ, so mean != min matters


def test_critic_loss_uses_the_agents_gamma_and_aggregation():
    torch.manual_seed(0)
    agent = FQLAgent(OBS, ACT, hidden_dims=[32, 32], gamma=0.5, q_agg="min")
    batch = make_batch()
    torch.manual_seed(1)
    loss, _ = agent.critic_loss(batch)
    torch.manual_seed(1)  # the same noise for a' = mu(s', z')
    with torch.no_grad():
        next_q = agent.target_critic(batch["next_observations"], agent.sample_actions(batch["next_observations"]))
        assert not torch.allclose(next_q.min(0).values, next_q.mean(0))  # min != mean here
        y = batch["rewards"] + 0.5 * batch["masks"] * next_q.min(0).values
        expected = (agent.critic(batch["observations"], batch["actions"]) - y).pow(2).mean()
    torch.testing.assert_close(loss.detach(), expected)


def test_actor_loss_weighs_distillation_by_alpha_and_normalizes_q_when_asked():
    torch.manual_seed(0)
    agent = FQLAgent(OBS, ACT, hidden_dims=[32, 32], alpha=3.0, normalize_q_loss=True)
    _, info = agent.actor_loss(make_batch())
    total = info["bc_flow_loss"] + 3.0 * info["distill_loss"] + info["q_loss"]
    torch.testing.assert_close(info["actor_loss"], total)
    obs, mu = torch.randn(B, OBS), torch.randn(B, ACT)
    q_pi = agent.critic(obs, mu.clamp(-1, 1)).mean(0)
    loss, _ = agent.q_term(obs, mu)
    torch.testing.assert_close(loss, -q_pi.mean() / q_pi.abs().mean())
    assert abs(q_pi.abs().mean().item() - 1.0) > 1e-3  # the normalization changes the value


def test_fresh_noise_in_target_and_actor(agent):
    batch = make_batch()
    torch.manual_seed(1)
    a = agent.critic_loss(batch)[0]
    b = agent.critic_loss(batch)[0]
    assert a != b  # a' = mu(s', z') uses new z' each call
    s1, s2 = agent.sample_actions(batch["observations"]), agent.sample_actions(batch["observations"])
    assert not torch.allclose(s1, s2) and s1.abs().max() <= 1


def test_distillation_target_is_the_clipped_euler_flow(agent):
    obs, z = torch.randn(B, OBS), torch.randn(B, ACT)
    x = z.clone()
    for i in range(agent.flow_steps):
        x = x + agent.flow(obs, x, torch.full((B, 1), i / agent.flow_steps)) / agent.flow_steps
    loss, mu, _ = agent.distill_term(obs, z)
    expected = (agent.onestep(obs, z) - x.clamp(-1, 1)).pow(2).mean()
    assert torch.allclose(loss, expected, atol=1e-6) and torch.allclose(mu, agent.onestep(obs, z))


def test_polyak_update_and_initial_copy(agent):
    for p, q in zip(agent.critic.parameters(), agent.target_critic.parameters()):
        assert torch.equal(p, q)
    opt = torch.optim.Adam([p for p in agent.parameters() if p.requires_grad], lr=1e-2)
    before = copy.deepcopy(agent.target_critic.state_dict())
    train_step(agent, opt, make_batch())
    for (name, new), online in zip(agent.target_critic.state_dict().items(), agent.critic.parameters()):
        expected = (1 - agent.tau) * before[name] + agent.tau * online.detach()
        assert torch.allclose(new, expected, atol=1e-6), name
        assert not torch.equal(new, before[name])


def test_critic_ensemble_members_are_independent():
    torch.manual_seed(0)
    critic = Critic(OBS, ACT, [8], num_critics=3)
    obs, act = torch.randn(4, OBS), torch.randn(4, ACT)
    q = critic(obs, act)
    assert q.shape == (3, 4)
    q[1].sum().backward()
    w = critic.ensemble.net[0].weight.grad  # (K, in, out)
    assert w[0].abs().sum() == 0 and w[2].abs().sum() == 0 and w[1].abs().sum() > 0


def test_flow_bc_recovers_both_modes_of_a_bimodal_dataset():
    torch.manual_seed(0)
    bc = FlowBCAgent(1, 1, hidden_dims=[64, 64])
    opt = torch.optim.Adam(bc.parameters(), lr=3e-3)
    for _ in range(400):
        actions = torch.where(torch.rand(128, 1) < 0.5, -0.6, 0.6) + 0.05 * torch.randn(128, 1)
        train_step(bc, opt, {"observations": torch.zeros(128, 1), "actions": actions})
    with torch.no_grad():
        samples = bc.sample_actions(torch.zeros(2000, 1)).squeeze(1)
    left, right = (samples < -0.3).float().mean(), (samples > 0.3).float().mean()
    assert 0.3 < left < 0.7 and 0.3 < right < 0.7
    assert (samples.abs() < 0.2).float().mean() < 0.1  # little mass between the modes


def test_iql_gradients_and_bad_args():
    torch.manual_seed(0)
    iql = IQLAgent(OBS, ACT, hidden_dims=[16])
    loss, info = iql.loss(make_batch())
    loss.backward()
    assert all(p.grad is None for p in iql.target_critic.parameters())
    assert set(info) >= {"value_loss", "critic_loss", "actor_loss"}
    with pytest.raises(ValueError, match="expectile"):
        IQLAgent(OBS, ACT, expectile=1.5)
    with pytest.raises(ValueError, match="q_agg"):
        FQLAgent(OBS, ACT, q_agg="median")
