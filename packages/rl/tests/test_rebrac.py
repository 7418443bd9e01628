"""ReBRAC baseline: its losses on hand-made tensors, the agent's stop-gradients and schedule, next actions."""

import numpy as np
import pytest
import torch

from litlab.rl.fql.rebrac import ReBRACAgent, rebrac_actor_loss, rebrac_td_target, smoothed_actions
from litlab.rl.offline.datamodule import OfflineRLDataModule, next_transition_indices

OBS, ACT, B = 5, 3, 16


def test_smoothing_clips_the_noise_then_the_action():
    out = smoothed_actions(torch.tensor([[0.9, -0.2, 0.0]]), torch.tensor([[0.8, -0.1, -0.7]]), noise_clip=0.5)
    torch.testing.assert_close(out, torch.tensor([[1.0, -0.3, -0.5]]))
    with pytest.raises(ValueError, match="differ"):
        smoothed_actions(torch.zeros(2, 3), torch.zeros(2, 2), 0.5)


def test_td_target_by_hand():
    rewards, masks = torch.tensor([1.0, 0.5]), torch.tensor([1.0, 0.0])
    next_q = torch.tensor([[2.0, 3.0], [1.0, 4.0]])  # min over critics: [1, 3]
    next_a, data_a = torch.tensor([[0.5, 0.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, 1.0]])  # ||.||^2: 0.25, 2
    y, info = rebrac_td_target(rewards, masks, next_q, next_a, data_a, torch.ones(2), gamma=0.9, beta_critic=0.1)
    torch.testing.assert_close(y, torch.tensor([1.0 + 0.9 * (1.0 - 0.1 * 0.25), 0.5]))  # terminal: r only
    torch.testing.assert_close(info["critic_penalty"], torch.tensor(1.125))
    y, _ = rebrac_td_target(rewards, masks, next_q, next_a, data_a, torch.tensor([0.0, 1.0]), 0.9, 0.1)
    torch.testing.assert_close(y, torch.tensor([1.0 + 0.9 * 1.0, 0.5]))  # unknown next action: no penalty
    with pytest.raises(ValueError, match="next_q"):
        rebrac_td_target(rewards, masks, next_q[:, :1], next_a, data_a, torch.ones(2), 0.9, 0.1)


def test_actor_loss_by_hand_with_a_detached_scale():
    q = torch.tensor([[2.0, -4.0], [1.0, -2.0]], requires_grad=True)  # min over critics: [1, -4], mean|.| 2.5
    actions, data = torch.tensor([[0.5, 0.5], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [0.0, 1.0]])  # 0.5, 1
    loss, info = rebrac_actor_loss(q, actions, data, beta_actor=0.1)
    torch.testing.assert_close(loss, torch.tensor(-(0.4 * 1.0 - 0.4 * 4.0) / 2 + 0.1 * 0.75))
    torch.testing.assert_close(info["bc_mse"], torch.tensor(0.75))
    loss.backward()
    # lambda = sg(1 / 2.5): each minimum gets -lambda / B, nothing else (a live lambda would add more)
    torch.testing.assert_close(q.grad, torch.tensor([[0.0, -0.2], [-0.2, 0.0]]))
    with pytest.raises(ValueError, match="dataset_actions"):
        rebrac_actor_loss(q, actions, data[:, :1], 0.1)


def make_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "observations": torch.randn(B, OBS, generator=g),
        "actions": torch.rand(B, ACT, generator=g) * 2 - 1,
        "rewards": torch.randn(B, generator=g),
        "masks": (torch.rand(B, generator=g) > 0.2).float(),
        "next_observations": torch.randn(B, OBS, generator=g),
        "next_actions": torch.rand(B, ACT, generator=g) * 2 - 1,
        "next_action_masks": (torch.rand(B, generator=g) > 0.1).float(),
    }


def touched(agent: ReBRACAgent) -> set[str]:
    names = set()
    for name in ("actor", "target_actor", "critic", "target_critic"):
        grads = [p.grad for p in getattr(agent, name).parameters() if p.grad is not None]
        if any(g.abs().sum() > 0 for g in grads):
            names.add(name)
    return names


def test_each_term_reaches_only_its_network():
    torch.manual_seed(0)
    agent = ReBRACAgent(OBS, ACT, hidden_dims=[32, 32])
    agent.critic_loss(make_batch())[0].backward()
    assert touched(agent) == {"critic"}  # no gradient through the target actor or critic
    agent.zero_grad()
    agent.actor_loss(make_batch())[0].backward()
    assert touched(agent) == {"actor"}  # the critic is frozen in the actor term
    obs = torch.randn(B, OBS)
    acts = agent.sample_actions(obs)
    assert acts.abs().max() <= 1 and torch.equal(acts, agent.sample_actions(obs))  # deterministic evaluation


def test_agent_losses_use_its_settings():
    """The agent's losses equal the hand-checked pure functions fed with its own settings (none at default)."""
    torch.manual_seed(0)
    kw = dict(beta_actor=0.3, beta_critic=0.2, policy_noise=0.4, noise_clip=0.3, gamma=0.6)
    agent = ReBRACAgent(OBS, ACT, hidden_dims=[16], **kw)
    batch = make_batch(3)
    torch.manual_seed(1)
    loss, _ = agent.critic_loss(batch)
    torch.manual_seed(1)  # the same smoothing noise
    with torch.no_grad():
        nxt = batch["next_observations"]
        mode = torch.tanh(agent.target_actor(nxt))
        next_a = (mode + (torch.randn_like(mode) * 0.4).clamp(-0.3, 0.3)).clamp(-1, 1)
        next_q = agent.target_critic(nxt, next_a)
        data_a, known = batch["next_actions"], batch["next_action_masks"]
        y, _ = rebrac_td_target(batch["rewards"], batch["masks"], next_q, next_a, data_a, known, 0.6, 0.2)
        expected = (agent.critic(batch["observations"], batch["actions"]) - y).pow(2).mean()
    torch.testing.assert_close(loss.detach(), expected)
    obs = batch["observations"]
    pi = torch.tanh(agent.actor(obs))
    expected_actor, _ = rebrac_actor_loss(agent.critic(obs, pi), pi, batch["actions"], beta_actor=0.3)
    torch.testing.assert_close(agent.actor_loss(batch)[0], expected_actor)


def test_delayed_actor_and_target_updates():
    torch.manual_seed(0)
    agent = ReBRACAgent(OBS, ACT, hidden_dims=[16], actor_freq=2, tau=0.5)
    opt = torch.optim.Adam([p for p in agent.parameters() if p.requires_grad], lr=1e-2)
    for step in range(4):
        actor0 = [p.clone() for p in agent.actor.parameters()]
        targets0 = [p.clone() for p in agent.target_critic.parameters()] + [
            p.clone() for p in agent.target_actor.parameters()
        ]
        opt.zero_grad()
        loss, info = agent.loss(make_batch(step))
        loss.backward()
        opt.step()
        agent.after_update()
        full = step % 2 == 0
        assert ("actor_loss" in info) == full
        moved = [not torch.equal(p, q) for p, q in zip(agent.actor.parameters(), actor0)]
        assert all(moved) if full else not any(moved)  # grads stay None on critic-only steps: Adam skips the actor
        targets = [*agent.target_critic.parameters(), *agent.target_actor.parameters()]
        assert any(not torch.equal(p, q) for p, q in zip(targets, targets0)) == full
    assert agent.num_updates == 4


def test_missing_next_actions_is_a_clear_error():
    batch = make_batch()
    del batch["next_actions"]
    with pytest.raises(ValueError, match="with_next_actions"):
        ReBRACAgent(OBS, ACT, hidden_dims=[8]).loss(batch)
    with pytest.raises(ValueError, match="actor_freq"):
        ReBRACAgent(OBS, ACT, hidden_dims=[8], actor_freq=0)


def test_next_transitions_of_interleaved_environments():
    # two environments stepped in turn: A: 0 -> 1 -> 2 (terminal), B: 10 -> 11 (time limit) -> 12 (reset)
    obs = np.array([[0.0], [10.0], [1.0], [11.0], [12.0]], dtype=np.float32)
    nxt = np.array([[1.0], [11.0], [2.0], [99.0], [13.0]], dtype=np.float32)
    ends = np.array([False, False, True, True, False])
    np.testing.assert_array_equal(next_transition_indices(obs, nxt, ends), [2, 3, -1, -1, -1])


def test_datamodule_next_actions_on_a_generated_dataset(hopper_generated):
    path, arrays = hopper_generated
    dm = OfflineRLDataModule(str(path), batch_size=8, with_next_actions=True)
    dm.setup()
    t = dm.tensors
    valid = t["next_action_masks"].bool()
    ends = torch.from_numpy(arrays["terminals"].astype(bool) | arrays["timeouts"].astype(bool))
    assert not valid[ends].any() and valid.float().mean() > 0.8
    idx = next_transition_indices(arrays["observations"], arrays["next_observations"], ends.numpy())
    # collection stores each env's episodes contiguously and flags its cut-off: the successor is i + 1
    np.testing.assert_array_equal(idx[valid.numpy()], np.flatnonzero(valid.numpy()) + 1)
    assert valid.sum() == (~ends).sum()  # every transition that does not end has its successor
    for i in np.flatnonzero(valid.numpy())[:50]:
        assert torch.equal(t["observations"][idx[i]], t["next_observations"][i])
        assert torch.equal(t["next_actions"][i], t["actions"][idx[i]])
    assert set(next(iter(dm.train_dataloader()))) >= {"next_actions", "next_action_masks"}


def test_next_transition_is_the_nearest_later_match_even_if_the_observation_occurred_before():
    # a state that does not change (s' == s) and a state seen earlier: the match is the nearest j > i
    obs = np.array([[0.0], [0.0], [1.0], [5.0], [1.0], [5.0]], dtype=np.float32)
    nxt = np.array([[0.0], [1.0], [5.0], [1.0], [5.0], [9.0]], dtype=np.float32)
    ends = np.zeros(6, dtype=bool)
    np.testing.assert_array_equal(next_transition_indices(obs, nxt, ends), [1, 2, 3, 4, 5, -1])


def test_cuda_graph_refuses_the_delayed_actor_schedule():
    from litlab.rl.fql.graph import CUDAGraphStep

    agent = ReBRACAgent(OBS, ACT, hidden_dims=[8], actor_freq=2)
    opt = torch.optim.Adam([p for p in agent.parameters() if p.requires_grad], capturable=True)
    with pytest.raises(ValueError, match="actor_freq"):  # a captured graph would replay one kind of update
        CUDAGraphStep(agent, opt, make_batch())


@pytest.mark.slow
def test_compiled_loss_is_traced_once_per_kind_of_update():
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    torch.manual_seed(0)
    agent = ReBRACAgent(OBS, ACT, hidden_dims=[8], actor_freq=2)
    loss_fn, graphs = torch.compile(agent.loss, backend="eager"), []
    for i in range(6):
        _, info = loss_fn(make_batch(i))
        assert ("actor_loss" in info) == (i % 2 == 0)
        agent.after_update()
        graphs.append(counters["stats"]["unique_graphs"])
    assert graphs[1] > graphs[0] and graphs[5] == graphs[1]  # a full and a critic-only graph, then no retrace


def test_bad_discount_polyak_rate_and_mask_shapes_are_rejected():
    for kw in ({"tau": 0.0}, {"tau": 1.5}, {"gamma": 1.5}, {"gamma": -0.1}):
        with pytest.raises(ValueError, match="tau|gamma"):
            ReBRACAgent(OBS, ACT, hidden_dims=[8], **kw)
    r, q, a = torch.zeros(2), torch.zeros(2, 2), torch.zeros(2, 3)
    with pytest.raises(ValueError, match="next_action_masks"):  # (B, 1) would broadcast y to (B, B)
        rebrac_td_target(r, torch.ones(2), q, a, a, torch.ones(2, 1), 0.9, 0.1)
    with pytest.raises(ValueError, match="masks"):
        rebrac_td_target(r, torch.ones(2, 1), q, a, a, torch.ones(2), 0.9, 0.1)
