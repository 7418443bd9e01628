"""The Flow Q-Learning agent in plain PyTorch (Park, Li, Levine, arXiv 2502.02538, Algorithm 1).

``FQLAgent.loss(batch)`` is L = L_Q + L_BC + alpha * L_D + L_pi (one Adam over every module, as the
authors' code). The stop-gradient points that JAX gets implicitly are explicit here:

1. TD target: a' = clip(mu(s', z')) and Qbar(s', a') are computed under ``torch.no_grad``.
2. Distillation target: the Euler integration of v_theta runs under ``torch.no_grad``; L_D trains mu only.
3. Policy term: Q is evaluated through ``torch.func.functional_call`` on *detached* critic parameters,
   so the gradient reaches mu through the action and never the critic.
4. The 1/mean|Q| scale of ``normalize_q_loss`` is detached (``losses.policy_q_loss``).
5. L_BC reads only v_theta.

``train_step`` is the whole update (loss, backward, Adam, Polyak) as one function with no host syncs,
so it can be captured in a CUDA graph (see ``graph.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from litlab.rl.fql import losses
from litlab.rl.fql.nets import Critic, OneStepPolicy, VelocityField

Batch = dict[str, Tensor]


def polyak_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """target <- (1 - tau) target + tau online, in place, for every parameter."""
    with torch.no_grad():
        torch._foreach_lerp_(list(target.parameters()), list(online.parameters()), tau)


class FQLAgent(nn.Module):
    """Flow policy v_theta, one-step policy mu_omega, a critic ensemble and its Polyak target."""

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden_dims: Sequence[int] = (512, 512, 512, 512),
        num_critics: int = 2,
        alpha: float = 10.0,
        flow_steps: int = 10,
        gamma: float = 0.99,
        tau: float = 0.005,
        q_agg: str = "mean",
        normalize_q_loss: bool = False,
    ) -> None:
        super().__init__()
        if q_agg not in ("mean", "min"):
            raise ValueError(f"q_agg must be 'mean' or 'min', got {q_agg!r}")
        if flow_steps < 1 or alpha < 0 or not 0 < tau <= 1 or not 0 <= gamma <= 1:
            raise ValueError(
                f"need flow_steps >= 1, alpha >= 0, 0 < tau <= 1, 0 <= gamma <= 1; got "
                f"flow_steps={flow_steps}, alpha={alpha}, tau={tau}, gamma={gamma}"
            )
        self.action_dim = action_dim
        self.alpha, self.flow_steps, self.gamma, self.tau = alpha, flow_steps, gamma, tau
        self.q_agg, self.normalize_q_loss = q_agg, normalize_q_loss
        self.flow = VelocityField(obs_dim, action_dim, hidden_dims)
        self.onestep = OneStepPolicy(obs_dim, action_dim, hidden_dims)
        self.critic = Critic(obs_dim, action_dim, hidden_dims, num_critics, layer_norm=True)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)

    def flow_actions(self, obs: Tensor, noise: Tensor, num_steps: int | None = None) -> Tensor:
        """The BC flow policy: Euler-integrate v_theta from ``noise``, then clip to [-1, 1]."""
        x = losses.euler_integrate(lambda x, t: self.flow(obs, x, t), noise, num_steps or self.flow_steps)
        return x.clamp(-1.0, 1.0)

    def sample_actions(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Acting: clip(mu(s, z), -1, 1) with fresh z ~ N(0, I) (always stochastic, as the paper)."""
        z = torch.randn(obs.shape[0], self.action_dim, device=obs.device, dtype=obs.dtype, generator=generator)
        return self.onestep(obs, z).clamp(-1.0, 1.0)

    def critic_loss(self, batch: Batch) -> tuple[Tensor, losses.Info]:
        obs, next_obs = batch["observations"], batch["next_observations"]
        with torch.no_grad():  # stop-gradient 1
            next_actions = self.sample_actions(next_obs)
            y = losses.td_target(
                batch["rewards"], batch["masks"], self.target_critic(next_obs, next_actions), self.gamma, self.q_agg
            )
        return losses.critic_loss(self.critic(obs, batch["actions"]), y)

    def flow_bc_term(self, obs: Tensor, actions: Tensor) -> tuple[Tensor, losses.Info]:
        """L_BC on x_t = (1 - t) x0 + t a with fresh x0 ~ N(0, I), t ~ U[0, 1] per sample; trains v only."""
        x0 = torch.randn_like(actions)
        t = torch.rand(actions.shape[0], 1, device=actions.device, dtype=actions.dtype)
        x_t = (1.0 - t) * x0 + t * actions
        return losses.flow_bc_loss(self.flow(obs, x_t, t), x0, actions)

    def distill_term(self, obs: Tensor, z: Tensor) -> tuple[Tensor, Tensor, losses.Info]:
        """L_D = |mu(s, z) - sg[flow(s, z)]|^2; returns (loss, mu(s, z), info); trains mu only."""
        with torch.no_grad():  # stop-gradient 2
            target = self.flow_actions(obs, z)
        mu = self.onestep(obs, z)
        loss, info = losses.distillation_loss(mu, target)
        return loss, mu, info

    def q_term(self, obs: Tensor, mu: Tensor) -> tuple[Tensor, losses.Info]:
        """L_pi = -mean_B mean_k Q_k(s, clip(mu)) through a frozen critic; trains mu only."""
        frozen = {k: v.detach() for k, v in self.critic.named_parameters()}  # stop-gradient 3
        q = functional_call(self.critic, frozen, (obs, mu.clamp(-1.0, 1.0)))
        return losses.policy_q_loss(q, self.normalize_q_loss)

    def actor_loss(self, batch: Batch) -> tuple[Tensor, losses.Info]:
        obs, actions = batch["observations"], batch["actions"]
        bc, info = self.flow_bc_term(obs, actions)
        distill, mu, distill_info = self.distill_term(obs, torch.randn_like(actions))
        q_loss, q_info = self.q_term(obs, mu)
        loss = bc + self.alpha * distill + q_loss
        return loss, {**info, **distill_info, **q_info, "actor_loss": loss.detach()}

    def loss(self, batch: Batch) -> tuple[Tensor, losses.Info]:
        critic, critic_info = self.critic_loss(batch)
        actor, actor_info = self.actor_loss(batch)
        return critic + actor, {**critic_info, **actor_info}

    def after_update(self) -> None:
        polyak_update(self.target_critic, self.critic, self.tau)


class FlowBCAgent(nn.Module):
    """The BC baseline: the flow policy alone (FQL without critic and one-step policy), 10 Euler steps."""

    def __init__(
        self, obs_dim: int, action_dim: int, hidden_dims: Sequence[int] = (512,) * 4, flow_steps: int = 10
    ) -> None:
        super().__init__()
        if flow_steps < 1:
            raise ValueError(f"flow_steps must be >= 1, got {flow_steps}")
        self.action_dim, self.flow_steps = action_dim, flow_steps
        self.flow = VelocityField(obs_dim, action_dim, hidden_dims)

    def sample_actions(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn(obs.shape[0], self.action_dim, device=obs.device, dtype=obs.dtype, generator=generator)
        x = losses.euler_integrate(lambda x, t: self.flow(obs, x, t), z, self.flow_steps)
        return x.clamp(-1.0, 1.0)

    def loss(self, batch: Batch) -> tuple[Tensor, losses.Info]:
        obs, actions = batch["observations"], batch["actions"]
        x0 = torch.randn_like(actions)
        t = torch.rand(actions.shape[0], 1, device=actions.device, dtype=actions.dtype)
        return losses.flow_bc_loss(self.flow(obs, (1.0 - t) * x0 + t * actions, t), x0, actions)

    def after_update(self) -> None:
        pass


def train_step(agent: nn.Module, optimizer: torch.optim.Optimizer, batch: Batch) -> losses.Info:
    """One full update: zero grads, loss, backward, optimizer step, target update. No host syncs."""
    optimizer.zero_grad(set_to_none=False)
    loss, info = agent.loss(batch)
    loss.backward()
    optimizer.step()
    agent.after_update()
    return info
