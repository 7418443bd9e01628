"""Launch configuration of the Lightning Attention-2 Triton kernels (arXiv 2401.04658): chunk sizes, the widths
of the fp32 state tiles, warps and pipeline stages per phase, and how many programs per SM the segment plan aims
for.

A ``KernelConfig`` is frozen and passed explicitly to every launcher and to the planner (whose cache it keys);
``default_config(device)`` picks one per architecture from ``TABLE`` (compute capability -> configuration),
cached per device. The Hopper entry was picked by ``benchmarks/attention/attention_sweep.py`` (T = 4096) and
``attention_fwd_grid.py`` (segment plan at T = 16k-64k) on one H200 (bf16, 64k tokens per call, H = 16,
D = E = 128); the H100 SXM has the same capability (9.0) and SM count (132) and gets the same values, which were
timed on it too (the kernel benchmark of benchmarks/attention/HISTORY.md). Cards before Hopper have no tensor
memory accelerator and keep the pointer loads; later ones get the Hopper values (not timed). Under the
interpreter only the chunks and tile widths matter.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Launch:
    """Triton launch options of one kernel."""

    num_warps: int = 4
    num_stages: int = 2

    def kw(self) -> dict:
        return {"num_warps": self.num_warps, "num_stages": self.num_stages}


@dataclass(frozen=True)
class KernelConfig:
    """Everything the Triton path needs besides the tensors; hashable, so plans are cached per configuration."""

    fwd_chunk: int = 64  # chunk C of the forward phases (local states, outputs)
    bwd_chunk: int = 64  # chunk C of the backward phases (local gradients, dq, dk + dv)
    # most elements of a program's fp32 state tile: the tiled head dim is elems // (the other, whole head dim), a
    # power of two in [16, padded dim]. fwd: E tile of the output phase; local: E tile of both local passes
    # (states and gradients); dq: K tile of the dq phase (the dk + dv phase keeps the whole [K, E] gradient)
    fwd_elems: int = 8192
    local_elems: int = 8192
    dq_elems: int = 8192
    # when B x H x (forward E tiles) < SMs, sequences are cut into segments for at most programs_per_sm x SMs
    # programs of the backward (rounded down, so that the last wave is not a short tail)
    programs_per_sm: int = 2
    # the forward merges 2, 4, ... of those segments while it keeps fwd_fill x fwd_programs_per_sm x SMs programs
    # (a TMA forward program takes a whole SM); merged segments cut their local-state pass into pieces for
    # split_programs_per_sm x SMs programs
    fwd_programs_per_sm: int = 1
    fwd_fill: float = 0.9
    split_programs_per_sm: int = 2
    # K tile widths for which the output phase copies q, k, v, o with the tensor memory accelerator (whole heads
    # of a uniform bf16/fp16 batch; ``triton_phases.use_tma``); () turns it off
    tma_widths: tuple[int, ...] = (128,)
    fwd: Launch = field(default_factory=lambda: Launch(4, 2))  # output phase, one segment per sequence
    fwd_seg: Launch = field(default_factory=lambda: Launch(4, 2))  # output phase over segments
    fwd_whole: Launch = field(default_factory=lambda: Launch(4, 3))  # whole sequences, fewer programs than SMs
    fwd_tma: Launch = field(default_factory=lambda: Launch(4, 3))  # output phase with TMA copies (every plan)
    local: Launch = field(default_factory=lambda: Launch(4, 3))  # local states and local gradients
    dq: Launch = field(default_factory=lambda: Launch(4, 2))
    dkv: Launch = field(default_factory=lambda: Launch(8, 1))

    def __post_init__(self):
        for name in ("fwd_chunk", "bwd_chunk"):
            c = getattr(self, name)
            if c < 16 or c & (c - 1):
                raise ValueError(f"{name}: got {c}, expected a power of two >= 16 (tl.dot needs tiles >= 16)")

    def patched(self, patch: dict) -> KernelConfig:
        """A copy with the fields named in ``patch`` replaced (a launch field takes a dict of num_warps /
        num_stages): how the benchmark sweeps build their candidates."""
        changes = {}
        for key, val in patch.items():
            if key not in self.__dataclass_fields__:
                raise ValueError(f"patch: got field {key!r}, expected one of {sorted(self.__dataclass_fields__)}")
            cur = getattr(self, key)
            changes[key] = dataclasses.replace(cur, **val) if isinstance(cur, Launch) else val
            if isinstance(cur, tuple):
                changes[key] = tuple(val)
        return dataclasses.replace(self, **changes)

    def tile(self, elems: int, padded: int, other: int) -> int:
        """Width of the tiled head dim (padded size ``padded``) when the other dim (``other``) is kept whole."""
        return min(padded, max(16, elems // other))


HOPPER = KernelConfig()
PRE_HOPPER = KernelConfig(tma_widths=())
TABLE: dict[tuple[int, int], KernelConfig] = {(9, 0): HOPPER}


@functools.lru_cache(maxsize=16)
def _for_capability(index: int) -> KernelConfig:
    cap = torch.cuda.get_device_capability(index)
    if cap in TABLE:
        return TABLE[cap]
    return PRE_HOPPER if cap[0] < 9 else HOPPER


def default_config(device: torch.device) -> KernelConfig:
    """The configuration for ``device``: TABLE's entry for its compute capability (CPU, i.e. the interpreter:
    the Hopper values)."""
    if device.type != "cuda":
        return HOPPER
    return _for_capability(device.index if device.index is not None else torch.cuda.current_device())
