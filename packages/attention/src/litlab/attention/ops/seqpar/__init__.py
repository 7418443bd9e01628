"""Sequence parallelism for Lightning Attention (LASP-2, arXiv 2502.07563): the op over a time axis split
across the ranks of a process group, its differentiable collectives, and a gloo launcher for CPU runs."""

from litlab.attention.ops.seqpar.attn import seqpar_lightning_attn
from litlab.attention.ops.seqpar.comm import gather_ranks, gather_sequence, group_rank, group_size
from litlab.attention.ops.seqpar.launch import free_port, spawn_gloo, spawn_lightning
from litlab.attention.ops.seqpar.plan import PiecePlan, plan_piece

__all__ = [
    "PiecePlan",
    "free_port",
    "gather_ranks",
    "gather_sequence",
    "group_rank",
    "group_size",
    "plan_piece",
    "seqpar_lightning_attn",
    "spawn_gloo",
    "spawn_lightning",
]
