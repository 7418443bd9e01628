"""Flow Q-Learning losses as pure tensor functions (Park, Li, Levine, arXiv 2502.02538, Eqs. 4-8).

Each returns ``(loss, info)``; ``info`` holds detached scalars for logging. Networks are applied by the
agent (``agent.py``), which is where the stop-gradient points of the paper are made explicit; these
functions additionally ``detach`` every quantity that is a regression target.

- ``euler_integrate``: x_{i+1} = x_i + v(x_i, i/N) / N from x_0, N steps (the flow policy's sampler).
- ``td_target``: y = r + gamma * mask * agg_k Qbar_k(s', a'), agg = mean (default) or min.
- ``critic_loss``: mean over k and batch of (Q_k(s, a) - sg[y])^2.
- ``flow_bc_loss``: mean over batch and dims of (v(s, x_t, t) - (a - x_0))^2 (flow matching, Eq. 4).
- ``distillation_loss``: mean over batch and dims of (mu(s, z) - sg[flow(s, z)])^2.
- ``policy_q_loss``: -mean_B mean_k Q_k(s, mu(s, z)), optionally times sg[1 / mean|Q|].
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Info = dict[str, Tensor]


def euler_integrate(velocity: Callable[[Tensor, Tensor], Tensor], x0: Tensor, num_steps: int) -> Tensor:
    """Integrate dx/dt = velocity(x, t) from t = 0 to 1 with ``num_steps`` Euler steps; t has shape (B, 1)."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    x = x0
    for i in range(num_steps):
        t = torch.full((*x.shape[:-1], 1), i / num_steps, dtype=x.dtype, device=x.device)
        x = x + velocity(x, t) / num_steps
    return x


def td_target(rewards: Tensor, masks: Tensor, next_q: Tensor, gamma: float, q_agg: str = "mean") -> Tensor:
    """rewards, masks: (B,); next_q: (K, B) target-critic values at (s', a'). Returns sg[y]: (B,)."""
    if q_agg not in ("mean", "min"):
        raise ValueError(f"q_agg must be 'mean' or 'min', got {q_agg!r}")
    if next_q.dim() != 2 or next_q.shape[1] != rewards.shape[0]:
        raise ValueError(f"next_q must be (K, B={rewards.shape[0]}), got {tuple(next_q.shape)}")
    agg = next_q.mean(0) if q_agg == "mean" else next_q.min(0).values
    return (rewards + gamma * masks * agg).detach()


def critic_loss(q: Tensor, target: Tensor) -> tuple[Tensor, Info]:
    """q: (K, B) online critic values at (s, a); target: (B,). Mean over k and batch of squared errors."""
    if q.dim() != 2 or q.shape[1:] != target.shape:
        raise ValueError(f"q must be (K, B) with B = len(target) = {len(target)}, got {tuple(q.shape)}")
    loss = (q - target.detach()).pow(2).mean()
    info = {
        "critic_loss": loss.detach(),
        "q_mean": q.mean().detach(),
        "q_max": q.max().detach(),
        "q_min": q.min().detach(),
    }
    return loss, info


def flow_bc_loss(pred_velocity: Tensor, x0: Tensor, actions: Tensor) -> tuple[Tensor, Info]:
    """Flow matching on the linear path x_t = (1 - t) x0 + t a, whose velocity is a - x0. All (B, d)."""
    if not pred_velocity.shape == x0.shape == actions.shape:
        raise ValueError(
            f"pred_velocity, x0, actions must share a shape, got {tuple(pred_velocity.shape)}, "
            f"{tuple(x0.shape)}, {tuple(actions.shape)}"
        )
    loss = (pred_velocity - (actions - x0).detach()).pow(2).mean()
    return loss, {"bc_flow_loss": loss.detach()}


def distillation_loss(onestep_actions: Tensor, flow_actions: Tensor) -> tuple[Tensor, Info]:
    """Regress the one-step policy on the (detached) flow-policy actions from the same noise. (B, d)."""
    if onestep_actions.shape != flow_actions.shape:
        raise ValueError(
            f"onestep_actions {tuple(onestep_actions.shape)} and flow_actions {tuple(flow_actions.shape)} differ"
        )
    loss = (onestep_actions - flow_actions.detach()).pow(2).mean()
    return loss, {"distill_loss": loss.detach()}


def policy_q_loss(q: Tensor, normalize: bool = False) -> tuple[Tensor, Info]:
    """q: (K, B) critic values at the policy's actions. -mean over batch of the ensemble mean."""
    if q.dim() != 2:
        raise ValueError(f"q must be (K, B), got {tuple(q.shape)}")
    q_pi = q.mean(0)  # the ensemble mean, even when the TD target uses min
    loss = -q_pi.mean()
    if normalize:
        loss = loss * (1.0 / q_pi.abs().mean().clamp_min(1e-6)).detach()
    return loss, {"q_loss": loss.detach(), "q_pi_mean": q_pi.mean().detach()}
