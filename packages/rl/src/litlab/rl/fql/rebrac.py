"""ReBRAC baseline (Tarasov, Kurenkov, Nikulin, Kolesnikov, arXiv 2305.09836): TD3+BC (arXiv 2106.06860)
with LayerNorm critics, larger networks and a behavior penalty on both the actor and the critic.

Losses as pure functions returning ``(loss, info)``:

- ``smoothed_actions``: a' = clip(pi_target(s') + clip(eps, -c, c), -1, 1), eps ~ N(0, sigma^2) (TD3's
  target-policy smoothing; the noise is drawn by the caller).
- ``rebrac_td_target``: y = r + gamma mask (min_k Qbar_k(s', a') - beta_critic ||a' - a'_D||^2), where a'_D is
  the dataset's next action; the penalty is dropped where the next action is unknown (episode ends).
- ``rebrac_actor_loss``: -mean_B(lambda min_k Q_k(s, pi(s))) + beta_actor mean_B ||pi(s) - a||^2, with
  lambda = sg(1 / mean_B |min_k Q_k(s, pi(s))|) (TD3+BC's normalization), the critic frozen.
- The critic loss is FQL's ``losses.critic_loss`` (mean over k and batch of (Q_k(s, a) - sg[y])^2).

``ReBRACAgent``: deterministic actor pi(s) = tanh(MLP(s)) (no LayerNorm, final layer at 0.01 of the
Glorot variance, as the FQL authors' ReBRAC), a LayerNorm critic ensemble, Polyak targets of both. The
actor term enters every ``actor_freq``-th update and the targets move after those updates only. On the
other updates the actor's gradients stay ``None`` under the Lightning module's ``zero_grad()``, so Adam
does not step it (TD3). Under ``agent.train_step`` (``zero_grad(set_to_none=False)``) they are zeros and
Adam's momentum still moves the actor, as in the FQL authors' JAX ReBRAC. ``num_updates`` (a plain
counter) and ``full_update`` (the flag that ``loss`` reads) are not saved in checkpoints. ``CUDAGraphStep``
refuses ``actor_freq > 1``: one captured graph cannot follow the schedule.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from litlab.rl.fql import losses
from litlab.rl.fql.agent import Batch, polyak_update
from litlab.rl.fql.nets import MLP, Critic

Info = dict[str, Tensor]


def smoothed_actions(actions: Tensor, noise: Tensor, noise_clip: float) -> Tensor:
    """clip(actions + clip(noise, -noise_clip, noise_clip), -1, 1); ``noise`` already scaled by sigma."""
    if actions.shape != noise.shape:
        raise ValueError(f"actions {tuple(actions.shape)} and noise {tuple(noise.shape)} differ")
    return (actions + noise.clamp(-noise_clip, noise_clip)).clamp(-1.0, 1.0)


def rebrac_td_target(
    rewards: Tensor,
    masks: Tensor,
    next_q: Tensor,
    next_actions: Tensor,
    next_dataset_actions: Tensor,
    next_action_masks: Tensor,
    gamma: float,
    beta_critic: float,
) -> tuple[Tensor, Info]:
    """rewards, masks, next_action_masks: (B,); next_q: (K, B); next actions: (B, d). Returns (sg[y], info)."""
    b = rewards.shape[0]
    if next_q.dim() != 2 or next_q.shape[1] != b or next_actions.shape != next_dataset_actions.shape:
        raise ValueError(
            f"need next_q (K, B={b}) and next_actions == next_dataset_actions in shape (B, d); got "
            f"{tuple(next_q.shape)}, {tuple(next_actions.shape)}, {tuple(next_dataset_actions.shape)}"
        )
    if rewards.dim() != 1 or masks.shape != rewards.shape or next_action_masks.shape != rewards.shape:
        raise ValueError(
            f"need rewards, masks and next_action_masks of shape (B,); got {tuple(rewards.shape)}, "
            f"{tuple(masks.shape)}, {tuple(next_action_masks.shape)}"
        )
    penalty = (next_actions - next_dataset_actions).pow(2).sum(-1) * next_action_masks
    y = losses.td_target(rewards, masks, next_q - beta_critic * penalty, gamma, "min")  # min_k(q_k - c) = min_k q_k - c
    return y, {"critic_penalty": penalty.mean().detach()}


def rebrac_actor_loss(q: Tensor, actions: Tensor, dataset_actions: Tensor, beta_actor: float) -> tuple[Tensor, Info]:
    """q: (K, B) critic values at the policy's actions (B, d). Normalized -min_k Q plus the BC penalty."""
    if q.dim() != 2 or q.shape[1] != actions.shape[0] or actions.shape != dataset_actions.shape:
        raise ValueError(
            f"need q (K, B) and actions == dataset_actions in shape (B, d); got {tuple(q.shape)}, "
            f"{tuple(actions.shape)}, {tuple(dataset_actions.shape)}"
        )
    q_min = q.min(0).values
    lam = (1.0 / q_min.abs().mean().clamp_min(1e-6)).detach()
    q_loss = -(lam * q_min).mean()
    bc = (actions - dataset_actions).pow(2).sum(-1).mean()
    loss = q_loss + beta_actor * bc
    return loss, {"actor_loss": loss.detach(), "q_loss": q_loss.detach(), "bc_mse": bc.detach()}


class ReBRACAgent(nn.Module):
    """ReBRAC with the FQL networks; the batch needs ``next_actions`` and ``next_action_masks``."""

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden_dims: Sequence[int] = (512, 512, 512, 512),
        beta_actor: float = 0.01,
        beta_critic: float = 0.01,
        actor_freq: int = 2,
        policy_noise: float = 0.2,
        noise_clip: float = 0.5,
        gamma: float = 0.99,
        tau: float = 0.005,
    ) -> None:
        super().__init__()
        if beta_actor < 0 or beta_critic < 0 or actor_freq < 1 or policy_noise < 0 or noise_clip < 0:
            raise ValueError(
                "need beta_actor, beta_critic, policy_noise, noise_clip >= 0 and actor_freq >= 1; got "
                f"{beta_actor}, {beta_critic}, {policy_noise}, {noise_clip}, {actor_freq}"
            )
        if not 0 < tau <= 1 or not 0 <= gamma <= 1:
            raise ValueError(f"need 0 < tau <= 1 and 0 <= gamma <= 1; got tau={tau}, gamma={gamma}")
        self.beta_actor, self.beta_critic, self.actor_freq = beta_actor, beta_critic, actor_freq
        self.policy_noise, self.noise_clip, self.gamma, self.tau = policy_noise, noise_clip, gamma, tau
        self.actor = MLP(obs_dim, hidden_dims, action_dim)
        with torch.no_grad():
            self.actor.net[-1].weight.mul_(0.1)  # variance x 0.01
        self.target_actor = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic = Critic(obs_dim, action_dim, hidden_dims, 2, layer_norm=True)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.num_updates = 0
        self.full_update = True  # whether the current update trains the actor and moves the targets

    def sample_actions(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The deterministic policy tanh(MLP(s)) (evaluation acts without exploration noise)."""
        return torch.tanh(self.actor(obs))

    def critic_loss(self, batch: Batch) -> tuple[Tensor, Info]:
        missing = [k for k in ("next_actions", "next_action_masks") if k not in batch]
        if missing:
            raise ValueError(f"ReBRAC needs {missing} in the batch: use OfflineRLDataModule(with_next_actions=True)")
        next_obs = batch["next_observations"]
        with torch.no_grad():
            mode = torch.tanh(self.target_actor(next_obs))
            next_actions = smoothed_actions(mode, torch.randn_like(mode) * self.policy_noise, self.noise_clip)
            y, info = rebrac_td_target(
                batch["rewards"],
                batch["masks"],
                self.target_critic(next_obs, next_actions),
                next_actions,
                batch["next_actions"],
                batch["next_action_masks"],
                self.gamma,
                self.beta_critic,
            )
        loss, critic_info = losses.critic_loss(self.critic(batch["observations"], batch["actions"]), y)
        return loss, {**info, **critic_info}

    def actor_loss(self, batch: Batch) -> tuple[Tensor, Info]:
        obs = batch["observations"]
        pi = torch.tanh(self.actor(obs))
        frozen = {k: v.detach() for k, v in self.critic.named_parameters()}  # the gradient reaches pi only
        return rebrac_actor_loss(functional_call(self.critic, frozen, (obs, pi)), pi, batch["actions"], self.beta_actor)

    def loss(self, batch: Batch) -> tuple[Tensor, Info]:
        loss, info = self.critic_loss(batch)
        if self.full_update:
            actor, actor_info = self.actor_loss(batch)
            loss, info = loss + actor, {**info, **actor_info}
        return loss, info

    def after_update(self) -> None:
        if self.full_update:
            polyak_update(self.target_critic, self.critic, self.tau)
            polyak_update(self.target_actor, self.actor, self.tau)
        self.num_updates += 1
        # a bool, not the counter, is what ``loss`` reads: torch.compile traces two graphs, not one per step
        self.full_update = self.num_updates % self.actor_freq == 0
