"""Make the whole offline-RL update (loss, backward, Adam, Polyak) cheap to launch: a CUDA graph, torch.compile.

The FQL update (arXiv 2502.02538, Algorithm 1) is launch-bound at batch 256 (hundreds of small kernels):

- ``CUDAGraphStep`` captures ``train_step`` once and replays it as one graph. Requirements met by
  ``agent.train_step``: no host syncs, static shapes, and an optimizer built with ``capturable=True``.
  Random noise inside the graph is drawn from the default CUDA generator, which PyTorch advances on every
  replay.
- ``CompiledStep`` is ``train_step`` with the loss (forward, and through AOTAutograd the backward) and the
  update (optimizer step + Polyak) compiled by ``torch.compile``. It can itself be captured:
  ``CUDAGraphStep(agent, opt, batch, step_fn=CompiledStep())`` replays the compiled kernels as one graph.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from litlab.rl.fql.agent import Batch, train_step

StepFn = Callable[[nn.Module, torch.optim.Optimizer, Batch], dict[str, Tensor]]
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compile_fn(fn: Callable, mode: str = "default", backend: str = "inductor") -> Callable:
    """``torch.compile(fn)`` with an inductor ``mode`` from COMPILE_MODES (ignored by other backends)."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"mode must be one of {COMPILE_MODES}, got {mode!r}")
    options = {"mode": None if mode == "default" else mode} if backend == "inductor" else {}
    return torch.compile(fn, backend=backend, **options)


def _loss(agent: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
    return agent.loss(batch)


def _update(agent: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    optimizer.step()
    agent.after_update()


class CompiledStep:
    """``step(agent, optimizer, batch) -> info``: ``train_step`` with its two halves under ``torch.compile``.

    Args:
        mode: a ``torch.compile`` mode for inductor (``"default"``, ``"reduce-overhead"`` adds CUDA graphs,
            ``"max-autotune"``...). Ignored by the other backends.
        backend: the ``torch.compile`` backend; ``"inductor"`` generates kernels, ``"aot_eager"`` only traces
            (forward and backward graphs run by eager kernels; for debugging and CPU tests).
    """

    def __init__(self, mode: str = "default", backend: str = "inductor") -> None:
        self.loss = compile_fn(_loss, mode, backend)
        self.update = compile_fn(_update, mode, backend)
        self.mode, self.backend = mode, backend

    def __call__(self, agent: nn.Module, optimizer: torch.optim.Optimizer, batch: Batch) -> dict[str, Tensor]:
        # Gradients get memory of their own, accumulated into in place: under inductor's CUDA graphs
        # ("reduce-overhead") a first backward would otherwise hand the graph pool's output buffers to
        # .grad, and the next replay would overwrite them.
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
        if self.mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()
        optimizer.zero_grad(set_to_none=False)
        loss, info = self.loss(agent, batch)
        loss.backward()
        self.update(agent, optimizer)
        return info


class CUDAGraphStep:
    """``step(batch) -> info``: copies ``batch`` into static buffers and replays the captured update.

    Args:
        agent: the agent (``loss`` and ``after_update``), on a CUDA device.
        optimizer: its optimizer, built with ``capturable=True``.
        example: a batch with the shapes of every later batch (its values are copied, not kept).
        warmup: real updates run on a side stream before capture (lazy optimizer state, compilation).
        step_fn: the update to capture, ``train_step`` or a ``CompiledStep``.
    """

    def __init__(
        self,
        agent: nn.Module,
        optimizer: torch.optim.Optimizer,
        example: Batch,
        warmup: int = 3,
        step_fn: StepFn = train_step,
    ) -> None:
        if getattr(agent, "actor_freq", 1) > 1:
            raise ValueError(
                f"CUDAGraphStep replays one captured update, so it cannot follow the update schedule of an agent "
                f"with actor_freq={agent.actor_freq} > 1 (ReBRAC); use actor_freq=1 or train_step / CompiledStep"
            )
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
                step_fn(agent, optimizer, self.static)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.info: dict[str, Tensor] = step_fn(agent, optimizer, self.static)

    def __call__(self, batch: Batch) -> dict[str, Tensor]:
        for k, v in batch.items():
            self.static[k].copy_(v, non_blocking=True)
        self.graph.replay()
        return self.info
