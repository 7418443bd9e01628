"""Networks of Flow Q-Learning (Park, Li, Levine, arXiv 2502.02538, Sec. 4 and App. D).

- ``MLP``: GELU hidden layers (optionally LayerNorm after every hidden activation), Glorot-uniform
  weights and zero biases, a linear output. 4x512 by default, as in the paper.
- ``EnsembleMLP``: ``K`` independent MLPs evaluated as one batched matmul per layer (``baddbmm``), so the
  critic ensemble costs one kernel per layer instead of ``K``.
- ``Critic``: Q_k(s, a) for k = 1..K, input [s, a], LayerNorm on; returns (K, B).
- ``VelocityField``: v_theta(s, x_t, t), input [s, x_t, t], no LayerNorm; returns (B, d).
- ``OneStepPolicy``: mu_omega(s, z), input [s, z]; the raw (unclipped) output, (B, d).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _check_dims(hidden_dims: Sequence[int]) -> tuple[int, ...]:
    dims = tuple(int(h) for h in hidden_dims)
    if not dims or any(h <= 0 for h in dims):
        raise ValueError(f"hidden_dims must be a non-empty list of positive ints, got {list(hidden_dims)}")
    return dims


class MLP(nn.Module):
    """``in_dim -> hidden_dims... -> out_dim`` with GELU (and LayerNorm after each hidden activation)."""

    def __init__(self, in_dim: int, hidden_dims: Sequence[int], out_dim: int, layer_norm: bool = False) -> None:
        super().__init__()
        dims = (in_dim, *_check_dims(hidden_dims))
        layers: list[nn.Module] = []
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(d_in, d_out), nn.GELU(approximate="tanh")]
            if layer_norm:
                layers.append(nn.LayerNorm(d_out))
        layers.append(nn.Linear(dims[-1], out_dim))
        self.net = nn.Sequential(*layers)
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class EnsembleLinear(nn.Module):
    """``K`` linear layers applied to (K, B, in) at once; Glorot-uniform per member."""

    def __init__(self, num_members: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        bound = (6.0 / (in_dim + out_dim)) ** 0.5
        self.weight = nn.Parameter(torch.empty(num_members, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(num_members, 1, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        return torch.baddbmm(self.bias, x, self.weight)  # (K, B, out)


class EnsembleLayerNorm(nn.Module):
    """LayerNorm over the last dim with a separate affine per ensemble member."""

    def __init__(self, num_members: int, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_members, 1, dim))
        self.bias = nn.Parameter(torch.zeros(num_members, 1, dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, x.shape[-1:], eps=self.eps) * self.weight + self.bias


class EnsembleMLP(nn.Module):
    """``K`` independent MLPs; input (B, in) is shared by all members, output is (K, B, out)."""

    def __init__(
        self, num_members: int, in_dim: int, hidden_dims: Sequence[int], out_dim: int, layer_norm: bool = True
    ) -> None:
        super().__init__()
        if num_members < 1:
            raise ValueError(f"num_members must be >= 1, got {num_members}")
        self.num_members = num_members
        dims = (in_dim, *_check_dims(hidden_dims))
        layers: list[nn.Module] = []
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            layers += [EnsembleLinear(num_members, d_in, d_out), nn.GELU(approximate="tanh")]
            if layer_norm:
                layers.append(EnsembleLayerNorm(num_members, d_out))
        layers.append(EnsembleLinear(num_members, dims[-1], out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.unsqueeze(0).expand(self.num_members, *x.shape))


class Critic(nn.Module):
    """An ensemble of ``num_critics`` Q-functions Q_k(s, a) -> (K, B)."""

    def __init__(
        self, obs_dim: int, action_dim: int, hidden_dims: Sequence[int], num_critics: int = 2, layer_norm: bool = True
    ) -> None:
        super().__init__()
        self.ensemble = EnsembleMLP(num_critics, obs_dim + action_dim, hidden_dims, 1, layer_norm)

    def forward(self, obs: Tensor, actions: Tensor) -> Tensor:
        return self.ensemble(torch.cat([obs, actions], dim=-1)).squeeze(-1)


class VelocityField(nn.Module):
    """The flow-matching velocity field v_theta(s, x_t, t) -> (B, d)."""

    def __init__(self, obs_dim: int, action_dim: int, hidden_dims: Sequence[int], layer_norm: bool = False) -> None:
        super().__init__()
        self.mlp = MLP(obs_dim + action_dim + 1, hidden_dims, action_dim, layer_norm)

    def forward(self, obs: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        return self.mlp(torch.cat([obs, x_t, t], dim=-1))


class OneStepPolicy(nn.Module):
    """The one-step policy mu_omega(s, z) -> (B, d), unclipped."""

    def __init__(self, obs_dim: int, action_dim: int, hidden_dims: Sequence[int], layer_norm: bool = False) -> None:
        super().__init__()
        self.mlp = MLP(obs_dim + action_dim, hidden_dims, action_dim, layer_norm)

    def forward(self, obs: Tensor, noise: Tensor) -> Tensor:
        return self.mlp(torch.cat([obs, noise], dim=-1))
