"""Capture a whole offline-RL update (loss, backward, Adam, Polyak) in one CUDA graph.

The FQL update is launch-bound at batch 256 (hundreds of small kernels), so replaying it as one graph is
what makes it fast. Requirements met by ``agent.train_step``: no host syncs, static shapes, and an
optimizer built with ``capturable=True``. Random noise inside the graph is drawn from the default CUDA
generator, which PyTorch advances correctly on every replay.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from litlab.rl.fql.agent import Batch, train_step


class CUDAGraphStep:
    """``step(batch) -> info``: copies ``batch`` into static buffers and replays the captured update."""

    def __init__(self, agent: nn.Module, optimizer: torch.optim.Optimizer, example: Batch, warmup: int = 3) -> None:
        if not all(t.is_cuda for t in example.values()):
            raise ValueError("CUDAGraphStep needs every tensor of the example batch on a CUDA device")
        for group in optimizer.param_groups:
            if not group.get("capturable", False):
                raise ValueError("CUDAGraphStep needs an optimizer built with capturable=True")
        self.static = {k: v.clone() for k, v in example.items()}
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(warmup):
                train_step(agent, optimizer, self.static)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.info: dict[str, Tensor] = train_step(agent, optimizer, self.static)

    def __call__(self, batch: Batch) -> dict[str, Tensor]:
        for k, v in batch.items():
            self.static[k].copy_(v, non_blocking=True)
        self.graph.replay()
        return self.info
