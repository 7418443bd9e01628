"""Exponential moving average of a module's parameters (Polyak averaging; pi0-FAST uses decay 0.999):
theta_ema <- decay * theta_ema + (1 - decay) * theta after every optimizer step; evaluation swaps it in."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


class EMA:
    """Shadow copies of ``module``'s parameters, updated with ``update`` and swapped in by ``applied``."""

    def __init__(self, module: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.shadow = [p.detach().clone().float() for p in module.parameters()]

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        params = [p.detach().float() for p in module.parameters()]
        torch._foreach_lerp_(self.shadow, params, 1.0 - self.decay)

    @contextmanager
    def applied(self, module: nn.Module):
        """Temporarily load the averaged weights into ``module``."""
        saved = [p.detach().clone() for p in module.parameters()]
        with torch.no_grad():
            for p, s in zip(module.parameters(), self.shadow):
                p.copy_(s.to(p.device, p.dtype))
        try:
            yield module
        finally:
            with torch.no_grad():
                for p, s in zip(module.parameters(), saved):
                    p.copy_(s)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "shadow": [s.cpu() for s in self.shadow]}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        if len(state["shadow"]) != len(self.shadow):
            raise ValueError(f"EMA state has {len(state['shadow'])} tensors, the model {len(self.shadow)}")
        self.shadow = [s.to(device) for s in state["shadow"]]
