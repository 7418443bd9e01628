"""Per-group encoders and action decoders of the in-context agent (Vintix, arXiv 2501.19400, Sec. 3.2).

A group is one (observation space, action space) signature, e.g. "grid9x9-discrete5"; no task id enters
the model, the task is inferred from the context. For each group:

- obs encoder: continuous  Linear(n, d) -> LeakyReLU -> LayerNorm -> Linear(d, d) -> LeakyReLU -> LayerNorm;
               discrete    Embedding(n, d) -> Linear(d, d) -> LeakyReLU (the project's form for grid cells);
- action encoder: the same shapes over the action space;
- reward encoder: Linear(1, d_rew) -> LeakyReLU of r * reward_scale;
- action decoder: 3 x [Linear(d, d) -> LeakyReLU] -> Linear(d, n) (logits, or the unbounded action).

Two tokenizations share these modules:
- stacked (Vintix): one token per step, x_t = [obs(o_t) | act(a_{t-1}) | rew(r_{t-1})] with widths
  d_obs + d_act + d_rew = d_model; where step_num == 0 the previous action and reward are replaced by two
  learned padding vectors. a_t is predicted at token t.
- interleaved (AD, arXiv 2210.14215): tokens (o_t, a_t, r_t), each of width d_model; a_t is predicted at
  the token of o_t (it sees a_{<t}, r_{<t} and o_t only).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class GroupSpec:
    """Spaces of one group: kind "discrete" (n = number of values) or "continuous" (n = dims)."""

    obs_kind: str
    obs_n: int
    act_kind: str
    act_n: int
    reward_scale: float = 1.0

    @classmethod
    def from_dict(cls, d: dict) -> GroupSpec:
        spec = cls(**d)
        for kind in (spec.obs_kind, spec.act_kind):
            if kind not in ("discrete", "continuous"):
                raise ValueError(f"group space kind must be 'discrete' or 'continuous', got {kind!r} in {d}")
        if spec.obs_n < 1 or spec.act_n < 1:
            raise ValueError(f"group sizes must be >= 1, got obs_n={spec.obs_n}, act_n={spec.act_n}")
        return spec


def space_encoder(kind: str, n: int, d: int) -> nn.Module:
    if kind == "discrete":
        return nn.Sequential(nn.Embedding(n, d), nn.Linear(d, d), nn.LeakyReLU())
    return nn.Sequential(
        nn.Linear(n, d), nn.LeakyReLU(), nn.LayerNorm(d), nn.Linear(d, d), nn.LeakyReLU(), nn.LayerNorm(d)
    )


def action_decoder(d: int, n: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(3):
        layers += [nn.Linear(d, d), nn.LeakyReLU()]
    return nn.Sequential(*layers, nn.Linear(d, n))


class GroupIO(nn.Module):
    """Encoders and decoder of one group for a backbone of width d_model.

    Args:
        spec: the group's spaces.
        d_model: backbone width.
        tokens: "stacked" or "interleaved".
        d_rew: reward channels of a stacked token (the rest is split evenly between obs and action).
    """

    def __init__(self, spec: GroupSpec, d_model: int, tokens: str = "stacked", d_rew: int = 2) -> None:
        super().__init__()
        if tokens not in ("stacked", "interleaved"):
            raise ValueError(f"tokens must be 'stacked' or 'interleaved', got {tokens!r}")
        if tokens == "stacked" and (d_model - d_rew < 2 or (d_model - d_rew) % 2):
            raise ValueError(f"stacked tokens need d_model - d_rew even and >= 2, got {d_model} - {d_rew}")
        self.spec, self.tokens = spec, tokens
        d_obs = d_act = (d_model - d_rew) // 2 if tokens == "stacked" else d_model
        d_rew = d_rew if tokens == "stacked" else d_model
        self.obs_enc = space_encoder(spec.obs_kind, spec.obs_n, d_obs)
        self.act_enc = space_encoder(spec.act_kind, spec.act_n, d_act)
        self.rew_enc = nn.Sequential(nn.Linear(1, d_rew), nn.LeakyReLU())
        self.pad_act = nn.Parameter(torch.zeros(d_act))
        self.pad_rew = nn.Parameter(torch.zeros(d_rew))
        self.decoder = action_decoder(d_model, spec.act_n)

    def _enc(self, enc: nn.Module, kind: str, x: Tensor) -> Tensor:
        return enc(x.long() if kind == "discrete" else x.float())

    def encode(self, obs: Tensor, prev_act: Tensor, prev_rew: Tensor, step_num: Tensor) -> Tensor:
        """Stacked tokens [B, T, d_model] of o_t, a_{t-1}, r_{t-1} ([B, T] or [B, T, n]) and step_num [B, T]."""
        first = (step_num == 0)[..., None]
        o = self._enc(self.obs_enc, self.spec.obs_kind, obs)
        a = torch.where(first, self.pad_act, self._enc(self.act_enc, self.spec.act_kind, prev_act))
        r = torch.where(first, self.pad_rew, self.rew_enc(prev_rew.float()[..., None] * self.spec.reward_scale))
        return torch.cat([o, a, r], dim=-1)

    def obs_token(self, obs: Tensor) -> Tensor:
        return self._enc(self.obs_enc, self.spec.obs_kind, obs)

    def act_token(self, act: Tensor) -> Tensor:
        return self._enc(self.act_enc, self.spec.act_kind, act)

    def rew_token(self, rew: Tensor) -> Tensor:
        return self.rew_enc(rew.float()[..., None] * self.spec.reward_scale)

    def encode_interleaved(self, obs: Tensor, act: Tensor, rew: Tensor) -> Tensor:
        """Interleaved tokens [B, 3T, d_model]: o_0, a_0, r_0, o_1, ..."""
        o, a, r = self.obs_token(obs), self.act_token(act), self.rew_token(rew)
        return torch.stack([o, a, r], dim=2).flatten(1, 2)

    def decode(self, h: Tensor) -> Tensor:
        """Action logits (discrete) or actions (continuous) [.., act_n] from hidden states [.., d_model]."""
        return self.decoder(h)


def action_loss(spec: GroupSpec, pred: Tensor, target: Tensor) -> tuple[Tensor, dict]:
    """Per-sequence loss [B] at every position: cross-entropy (discrete) or MSE over dims (continuous),
    averaged over the positions of each sequence (Vintix sums these over the batch; we average them, which
    only rescales the learning rate). Returns (loss [B], info)."""
    if spec.act_kind == "discrete":
        ce = nn.functional.cross_entropy(pred.flatten(0, 1).float(), target.flatten().long(), reduction="none")
        per_seq = ce.view(target.shape).mean(1)
        acc = (pred.argmax(-1) == target).float().mean()
        return per_seq, {"accuracy": acc.detach()}
    per_seq = (pred.float() - target.float()).pow(2).mean(-1).mean(1)
    return per_seq, {}
