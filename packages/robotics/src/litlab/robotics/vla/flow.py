"""TinyVLAFlow, the flow-matching arm (pi0, arXiv 2410.24164, Sec. IV; rectified flow / flow matching,
arXiv 2209.03003 and 2210.02747): the same trunk, with actions read out as a velocity field.

Training: x0 ~ N(0, I), t ~ U(0, 1), x_t = (1 - t) x0 + t a over the whole chunk a [H, D] (normalized),
and the loss is  || v_theta(x_t, t | prefix) - (a - x0) ||^2  averaged over H and D. Inference integrates
dx/dt = v_theta from t = 0 (noise) to t = 1 with ``flow_steps`` Euler steps.

The H action slots are embedded as W x_t + time embedding + a learned slot position and appended to the
prefix; the whole sequence is one bidirectional block (``prefix_len = T``). Deviation from pi0: there
the prefix cannot attend to the action block; here it can, which costs prefix caching across the Euler
steps (each step reruns the Backbone) but needs no third mask type. pi0 samples t from a shifted Beta
and runs time the other way (t = 1 is noise); we keep the uniform t of the formula above.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from litlab.robotics.vla.configuration import VLAConfig
from litlab.robotics.vla.policy import VLAPolicyBase
from litlab.robotics.vla.processor import VLAProcessor

__all__ = ["TinyVLAFlow", "time_embedding"]


def time_embedding(t: Tensor, dim: int, min_period: float = 4e-3, max_period: float = 4.0) -> Tensor:
    """Sine-cosine embedding [B, dim] of t [B] with periods from min_period to max_period (pi0's choice)."""
    frac = torch.linspace(0.0, 1.0, dim // 2, device=t.device)
    period = min_period * (max_period / min_period) ** frac
    angle = 2 * math.pi * t[:, None].float() / period  # (B, dim/2)
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)


class TinyVLAFlow(VLAPolicyBase):
    """Flow-matching action head on the shared trunk (any processor kind; only its normalizers are used)."""

    def __init__(self, config: VLAConfig, processor: VLAProcessor):
        super().__init__(config, processor)
        c, d = config.dim, processor.action_dim
        self.action_in = nn.Linear(d, c)
        self.time_mlp = nn.Sequential(nn.Linear(c, c), nn.SiLU(), nn.Linear(c, c))
        self.slot_pos = nn.Parameter(torch.randn(self.horizon, c) * 0.02)
        self.velocity = nn.Linear(c, d)
        self.last_decode = None

    def velocity_field(self, prefix: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """v_theta [B, H, D] at noisy chunks x_t [B, H, D] and times t [B], given prefix embeddings."""
        slots = self.action_in(x_t.to(prefix.dtype)) + self.time_mlp(time_embedding(t, prefix.shape[-1]))[:, None]
        x = torch.cat([prefix, slots + self.slot_pos], dim=1)
        h = self.backbone(x, prefix_len=x.shape[1])
        return self.velocity(h[:, -self.horizon :])

    def forward(self, batch: dict) -> tuple[Tensor, dict]:
        pre = self.prefix(batch)
        a = batch["action"].to(pre.device).float()  # (B, H, D) normalized
        x0 = torch.randn_like(a)
        t = torch.rand(a.shape[0], device=a.device)
        x_t = (1 - t[:, None, None]) * x0 + t[:, None, None] * a
        loss = F.mse_loss(self.velocity_field(pre, x_t, t).float(), a - x0)
        return loss, {"flow_mse": loss.detach()}

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict, decode_mode: str = "relaxed", generator=None) -> Tensor:
        """Euler integration of the velocity field from noise; normalized chunk [B, H, D] in [-1, 1]."""
        pre = self.prefix(batch)
        b, steps = pre.shape[0], self.config.flow_steps
        x = torch.randn(b, self.horizon, self.action_dim, device=pre.device, generator=generator)
        for i in range(steps):
            t = torch.full((b,), i / steps, device=pre.device)
            x = x + self.velocity_field(pre, x, t).float() / steps
        return x.clamp(-1.0, 1.0)
