"""Implicit Q-Learning baseline (Kostrikov, Nair, Levine, arXiv 2110.06169, Eqs. 5-7).

- Value (Eq. 5): L_V = mean L_2^tau(min_k Qbar_k(s, a) - V(s)), L_2^tau(u) = |tau - 1(u < 0)| u^2.
- Critic (Eq. 6): L_Q = mean_k mean (Q_k(s, a) - sg[r + gamma mask V(s')])^2.
- Policy (Eq. 7, AWR): L_pi = -mean exp(beta sg[min_k Qbar_k(s, a) - V(s)]) log pi(a | s), the weight
  clipped at 100 as in the authors' code.

Same networks and sizes as FQL (GELU MLPs, LayerNorm critic ensemble with a Polyak target), a Gaussian
policy with tanh-squashed mean and a learned state-independent log-std; evaluation acts with the mean.
Deviations from the paper: no reward rescaling and no cosine schedule for the actor's learning rate.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from litlab.rl.fql.agent import Batch, polyak_update
from litlab.rl.fql.nets import MLP, Critic

Info = dict[str, Tensor]


def expectile_loss(diff: Tensor, expectile: float) -> Tensor:
    """Asymmetric squared loss |tau - 1(diff < 0)| diff^2, averaged."""
    weight = torch.where(diff < 0, 1.0 - expectile, expectile)
    return (weight * diff.pow(2)).mean()


def awr_loss(log_prob: Tensor, advantage: Tensor, beta: float, max_weight: float = 100.0) -> tuple[Tensor, Info]:
    """Advantage-weighted regression: -mean(min(exp(beta * sg[adv]), max_weight) * log_prob)."""
    weight = torch.exp(beta * advantage.detach()).clamp(max=max_weight)
    loss = -(weight * log_prob).mean()
    return loss, {"actor_loss": loss.detach(), "adv_mean": advantage.mean().detach()}


class GaussianPolicy(nn.Module):
    """pi(a | s) = N(tanh(m(s)), diag(exp(log_std))) with a state-independent log-std."""

    def __init__(self, obs_dim: int, action_dim: int, hidden_dims: Sequence[int]) -> None:
        super().__init__()
        self.mean = MLP(obs_dim, hidden_dims, action_dim)
        self.log_std = nn.Parameter(torch.zeros(action_dim))

    def distribution(self, obs: Tensor) -> torch.distributions.Normal:
        return torch.distributions.Normal(torch.tanh(self.mean(obs)), self.log_std.clamp(-5.0, 2.0).exp())


class IQLAgent(nn.Module):
    """IQL with MuJoCo defaults: expectile 0.7, beta 3, gamma 0.99, tau 0.005."""

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden_dims: Sequence[int] = (512, 512, 512, 512),
        expectile: float = 0.7,
        beta: float = 3.0,
        gamma: float = 0.99,
        tau: float = 0.005,
    ) -> None:
        super().__init__()
        if not 0 < expectile < 1 or beta < 0:
            raise ValueError(f"need 0 < expectile < 1 and beta >= 0, got expectile={expectile}, beta={beta}")
        self.expectile, self.beta, self.gamma, self.tau = expectile, beta, gamma, tau
        self.critic = Critic(obs_dim, action_dim, hidden_dims, 2, layer_norm=True)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.value = MLP(obs_dim, hidden_dims, 1, layer_norm=True)
        self.policy = GaussianPolicy(obs_dim, action_dim, hidden_dims)

    def sample_actions(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return torch.tanh(self.policy.mean(obs)).clamp(-1.0, 1.0)

    def loss(self, batch: Batch) -> tuple[Tensor, Info]:
        obs, actions = batch["observations"], batch["actions"]
        with torch.no_grad():
            q_target = self.target_critic(obs, actions).min(0).values
            next_v = self.value(batch["next_observations"]).squeeze(-1)
            y = batch["rewards"] + self.gamma * batch["masks"] * next_v
        v = self.value(obs).squeeze(-1)
        value_loss = expectile_loss(q_target - v, self.expectile)
        q = self.critic(obs, actions)
        critic_loss = (q - y).pow(2).mean()
        log_prob = self.policy.distribution(obs).log_prob(actions).sum(-1)
        actor_loss, info = awr_loss(log_prob, q_target - v.detach(), self.beta)
        info.update(
            value_loss=value_loss.detach(),
            critic_loss=critic_loss.detach(),
            q_mean=q.mean().detach(),
            v_mean=v.mean().detach(),
        )
        return value_loss + critic_loss + actor_loss, info

    def after_update(self) -> None:
        polyak_update(self.target_critic, self.critic, self.tau)
