"""`SequenceParallelStrategy`: Lightning's DDP with each batch's time axis split over groups of ranks.

The world of W processes is cut into W / P consecutive groups of P ranks (P = sequence_parallel_size). The
ranks of a group read the same batch of windows [B, T + 1] (the distributed sampler counts W / P replicas)
and rank r of the group keeps the tokens [r T/P, (r + 1) T/P] (inputs and their next-token targets: one
token of overlap). The mixers exchange what crosses the cut: lightning layers one [B, H, d, d] state per
rank (LASP-2, arXiv 2502.07563; `lightning_attn(..., sp_group=)`), softmax layers the keys and values
(`layers/seqpar_softmax.py`). Everything else in a block is token-wise.

Gradients: each rank's loss is the mean CE over its T/P tokens and its backward already carries the other
ranks' share through the collectives, so the sum over a group's ranks is P times the gradient of the group's
mean loss; DDP's average over all W ranks then gives (1/(W/P)) * sum over groups of that mean gradient:
exactly the gradient of one process on the global batch of (W/P) * B windows. Data parallelism is the
other axis (W / P groups); P = 1 is plain DDP. A MoE balance loss is computed from each rank's tokens, as
under DDP from each rank's batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from lightning.pytorch.strategies import DDPStrategy
from torch import Tensor, nn


def enable_sequence_parallel(module: nn.Module, group) -> int:
    """Point every lightning / softmax mixer of `module` at `group` (None: back to one device); returns the count."""
    from litlab.attention.layers import LightningAttention, SoftmaxAttention

    mixers = [m for m in module.modules() if isinstance(m, (LightningAttention, SoftmaxAttention))]
    if not mixers:
        raise ValueError(f"enable_sequence_parallel: {type(module).__name__} has no lightning or softmax mixer")
    for mixer in mixers:
        mixer.sp_group = group
    return len(mixers)


def shard_windows(batch: Tensor, rank: int, size: int) -> Tensor:
    """Rank `rank`'s piece [B, T/P + 1] of token windows [B, T + 1] (inputs t and targets t + 1)."""
    if not isinstance(batch, Tensor) or batch.dim() != 2:
        got = tuple(batch.shape) if isinstance(batch, Tensor) else type(batch).__name__
        raise ValueError(f"sequence parallelism: batch must be token windows [B, T + 1], got {got}")
    t = batch.shape[1] - 1
    if t < size or t % size:
        raise ValueError(f"sequence parallelism: T = {t} tokens per window must be a multiple of the group size {size}")
    piece = t // size
    return batch[:, rank * piece : (rank + 1) * piece + 1]


class SequenceParallelStrategy(DDPStrategy):
    """DDP whose groups of `sequence_parallel_size` consecutive ranks split each batch along the time axis.

    Args:
        sequence_parallel_size: ranks P per sequence (divides the world size); 1 is plain DDP.
        process_group_backend: "nccl" on GPUs, "gloo" on CPUs; None: Lightning's choice for the device.
        find_unused_parameters: as in DDPStrategy.
        **kwargs: the other arguments of `lightning.pytorch.strategies.DDPStrategy`.
    """

    def __init__(
        self,
        sequence_parallel_size: int = 2,
        process_group_backend: str | None = None,
        find_unused_parameters: bool = False,
        **kwargs,
    ) -> None:
        if not isinstance(sequence_parallel_size, int) or sequence_parallel_size < 1:
            raise ValueError(f"sequence_parallel_size: got {sequence_parallel_size!r}, expected an int >= 1")
        super().__init__(
            process_group_backend=process_group_backend, find_unused_parameters=find_unused_parameters, **kwargs
        )
        self.sequence_parallel_size = sequence_parallel_size
        self.sp_group = None

    @property
    def sp_rank(self) -> int:
        return self.global_rank % self.sequence_parallel_size

    def setup_environment(self) -> None:
        super().setup_environment()
        size, world = self.sequence_parallel_size, self.world_size
        if world % size:
            raise ValueError(f"sequence_parallel_size: got {size}, expected a divisor of the world size {world}")
        if size == 1:
            return
        for first in range(0, world, size):  # every rank creates every group, in the same order
            group = dist.new_group(list(range(first, first + size)))
            if first <= self.global_rank < first + size:
                self.sp_group = group

    @property
    def distributed_sampler_kwargs(self) -> dict:
        size = self.sequence_parallel_size
        return {"num_replicas": self.world_size // size, "rank": self.global_rank // size}

    def setup(self, trainer) -> None:
        super().setup(trainer)
        if self.sp_group is not None:
            enable_sequence_parallel(self.lightning_module, self.sp_group)

    def batch_to_device(self, batch, device: torch.device | None = None, dataloader_idx: int = 0):
        batch = super().batch_to_device(batch, device, dataloader_idx)
        if self.sp_group is None:
            return batch
        return shard_windows(batch, self.sp_rank, self.sequence_parallel_size)
