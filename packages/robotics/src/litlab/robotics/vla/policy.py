"""The shared trunk of the TinyVLA arms and LeRobot's policy interface (``PreTrainedPolicy``).

Trunk: a conv stem turns the RGB image into (S/p)^2 tokens (with a learned position embedding), the
text/state prefix ids are embedded, and litlab.attention's ``Backbone`` runs the sequence with a
prefix-LM mask (bidirectional over image + instruction + state). The arms differ only in how actions
leave the model (``TinyVLA``: action tokens; ``TinyVLAFlow``: a flow-matching head).

Interface: ``forward(batch) -> (loss, info)``; ``predict_action_chunk(batch) -> [B, H, D]`` (normalized);
``select_action(batch) -> [B, D]`` pops from an action queue that is refilled with the first
``n_action_steps`` actions of a new chunk when empty; ``reset()`` clears it at episode start.
"""

from __future__ import annotations

from collections import deque

import torch
from torch import Tensor, nn

from litlab.attention import Backbone
from litlab.robotics.vla.configuration import VLAConfig
from litlab.robotics.vla.processor import VLAProcessor

__all__ = ["VLAPolicyBase", "ConvStem"]


class ConvStem(nn.Module):
    """uint8 images [B, 3, S, S] -> tokens [B, (S/p)^2, C]: a stride-2 3x3 conv, GELU, a stride-p/2 conv."""

    def __init__(self, image_size: int, patch: int, dim: int):
        super().__init__()
        self.image_size = image_size
        self.net = nn.Sequential(nn.Conv2d(3, dim // 2, 3, stride=2, padding=1), nn.GELU(),
                                 nn.Conv2d(dim // 2, dim, patch // 2, stride=patch // 2))
        self.pos = nn.Parameter(torch.randn((image_size // patch) ** 2, dim) * 0.02)

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() != 4 or images.shape[1] != 3 or images.shape[-1] != self.image_size:
            raise ValueError(f"observation.image must be [B, 3, {self.image_size}, {self.image_size}] uint8, "
                             f"got {tuple(images.shape)}")
        x = images.float() / 127.5 - 1.0
        return self.net(x).flatten(2).transpose(1, 2) + self.pos  # (B, N, C)


class VLAPolicyBase(nn.Module):
    """Image + text/state prefix through a prefix-LM ``Backbone``; subclasses add the action output."""

    def __init__(self, config: VLAConfig, processor: VLAProcessor):
        super().__init__()
        self.config, self.processor = config, processor
        self.horizon, self.action_dim = processor.horizon, processor.action_dim
        n = config.n_action_steps or max(1, self.horizon // 2)
        if n > self.horizon:
            raise ValueError(f"n_action_steps={n} exceeds the chunk horizon H={self.horizon}")
        self.n_action_steps = n
        self.stem = ConvStem(config.image_size, config.patch, config.dim)
        self.embed = nn.Embedding(processor.vocab_size, config.dim)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.backbone = Backbone(config.dim, config.num_layers, config.num_heads, config.dim // config.num_heads,
                                 pattern=config.pattern)
        self.reset()

    def prefix(self, batch: dict) -> Tensor:
        """Prefix embeddings [B, N_img + P_text, C] (image tokens, then the text/state ids)."""
        ids = batch.get("prefix_ids")
        if ids is None:
            ids = self.processor.encode_prefix(batch["task"], batch["observation.state"])
        ids = ids.to(self.embed.weight.device)
        return torch.cat([self.stem(batch["observation.image"].to(ids.device)), self.embed(ids)], dim=1)

    # ---- LeRobot's policy interface -----------------------------------------------------------
    def reset(self) -> None:
        """Clear the action queue (call at every episode start)."""
        self._queue: deque[Tensor] = deque(maxlen=self.n_action_steps)

    @torch.no_grad()
    def select_action(self, batch: dict) -> Tensor:
        """One normalized action [B, D]; re-plans a chunk whenever the queue is empty."""
        if not self._queue:
            chunk = self.predict_action_chunk(batch)[:, : self.n_action_steps]  # (B, n, D)
            self._queue.extend(chunk.transpose(0, 1))
        return self._queue.popleft()

    def predict_action_chunk(self, batch: dict) -> Tensor:
        raise NotImplementedError

    def forward(self, batch: dict) -> tuple[Tensor, dict]:
        raise NotImplementedError
