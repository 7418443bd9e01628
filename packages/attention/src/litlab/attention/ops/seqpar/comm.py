"""Differentiable collectives of the sequence-parallel ops, on one process group (the ranks of one sequence).

    gather_ranks(x)      forward: all-gather -> [P, *x.shape]      backward: sum over ranks of the cotangents,
                                                                    each rank keeping its own row
    gather_sequence(x)   forward: all-gather along `dim` (concat)  backward: the same reduction, sliced

The backward is a reduce-scatter (NCCL) or, where the backend has none (gloo), an all-reduce followed by the
rank's own slice. Every rank of the group must run the backward through each gather (collectives are matched
in order), which is why the ops keep the gathered tensor in every rank's graph.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def group_size(group) -> int:
    """Ranks of the group (1 without an initialised process group)."""
    return dist.get_world_size(group) if dist.is_available() and dist.is_initialized() else 1


def group_rank(group) -> int:
    """This process's rank within the group."""
    return dist.get_rank(group) if dist.is_available() and dist.is_initialized() else 0


def _reduce_own_row(grad: torch.Tensor, group) -> torch.Tensor:
    """grad [P, ...] on every rank -> sum over ranks of grad[rank] for this rank."""
    grad = grad.contiguous()
    if dist.get_backend(group) == dist.Backend.NCCL:
        out = torch.empty_like(grad[0])
        dist.reduce_scatter_tensor(out, grad, op=dist.ReduceOp.SUM, group=group)
        return out
    dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=group)
    return grad[dist.get_rank(group)].clone()


class _GatherRanks(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, group) -> torch.Tensor:
        ctx.group = group
        x = x.contiguous()
        out = x.new_empty(dist.get_world_size(group), *x.shape)
        if dist.get_backend(group) == dist.Backend.NCCL:
            dist.all_gather_into_tensor(out, x, group=group)
        else:
            dist.all_gather(list(out.unbind(0)), x, group=group)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _reduce_own_row(grad, ctx.group), None


def gather_ranks(x: torch.Tensor, group) -> torch.Tensor:
    """Every rank's x (same shape on all ranks) stacked in rank order: [P, *x.shape], differentiable."""
    return _GatherRanks.apply(x, group)


def gather_sequence(x: torch.Tensor, group, dim: int) -> torch.Tensor:
    """Concatenate every rank's x along `dim` in rank order (equal sizes on all ranks), differentiable."""
    stacked = gather_ranks(x.movedim(dim, 0), group)  # [P, T_r, ...]
    return stacked.flatten(0, 1).movedim(0, dim)
