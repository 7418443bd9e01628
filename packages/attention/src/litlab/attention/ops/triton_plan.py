"""How the Triton path of Lightning Attention-2 (arXiv 2401.04658) cuts the token axis into work items
(sequence, segment), so that items x heads x tiles fill the GPU even for one long sequence with few heads: the
state recurrence over segments, S_[g+1] = lambda^len_g S_[g] + L_g, is a linear scan, so the segments' local
terms L_g can be built in parallel and combined (``triton_phases``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from litlab.attention.ops.triton_common import cdiv, next_pow2
from litlab.attention.ops.triton_config import KernelConfig


@dataclass(frozen=True)
class Plan:
    """How the token axis is cut: N sequences, items = (sequence, segment) pairs, chunk C, segment SEG. Frozen:
    uniform batches share cached plans (make_plan)."""

    n_seq: int
    t: int  # tokens per sequence (uniform batch) or total packed tokens (varlen)
    fwd_chunk: int  # chunk C of the forward kernels
    bwd_chunk: int  # chunk C of the backward kernels
    seg: int  # a multiple of both chunks
    g: int  # segments per sequence (uniform batch); 0 with cu_seqlens
    items: torch.Tensor | None  # int32 [num_items, 2] = (sequence, segment) with cu_seqlens
    num_items: int
    use_seg: bool
    split: int = 1  # pieces per forward segment of the forward's local-state pass (seg_state_kernel)
    # uniform batches: the forward's own segments, fwd_seg = 2^r x seg tokens (fwd_g per sequence), coarser than
    # the backward's when the forward fills the GPU with fewer programs (fwd_programs_per_sm); such a forward
    # also stores the states entering the backward's segments, so the backward needs no local states
    fwd_seg: int = 0
    fwd_g: int = 0
    tma: bool = False  # planned for the TMA forward (chunk_triton._use_tma)

    @property
    def coarse(self) -> bool:
        """The forward runs fewer, longer segments than the backward (uniform batches)."""
        return self.items is None and self.fwd_g < self.g

    @property
    def fwd_whole(self) -> bool:
        """The forward runs whole sequences (one program per sequence, head and tile), the backward segments."""
        return self.coarse and self.fwd_g == 1

    @property
    def fwd_use_seg(self) -> bool:
        """The forward rebuilds the state entering its segments from the local-state pass."""
        return self.fwd_g > 1 if self.coarse else self.use_seg


@functools.lru_cache(maxsize=16)
def _sm_count(index: int) -> int:
    return torch.cuda.get_device_properties(index).multi_processor_count


def _sms(device: torch.device) -> int:
    if device.type != "cuda":
        return 1
    return _sm_count(device.index if device.index is not None else torch.cuda.current_device())


def make_plan(b, t, h, tiles, cu_seqlens, cfg: KernelConfig, seg, device, tma: bool = False) -> Plan:
    """Cut sequences into segments of ``seg`` tokens (a multiple of both chunks of ``cfg``). seg=None: one
    segment per sequence when B*H*tiles programs give every SM one, else segments for at most
    cfg.programs_per_sm x SMs programs (segments cost a pass over k, v and q, dO in the local phases, measured on
    the H200 as worse than one program per SM). Without cu_seqlens and with an automatic ``seg``, the forward
    merges 2, 4, ... segments into one while it still has cfg.fwd_fill x cfg.fwd_programs_per_sm x SMs programs
    (its programs are longer-lived and fewer fit on an SM than the backward's; merged into one: whole
    sequences, no local-state pass). Only the TMA forward (``tma``) runs several merged segments; the pointer
    forward merges only into whole sequences (its 2 programs per SM, 90 KB each, lost to fewer, longer ones at
    32k-64k: benchmarks/attention/HISTORY.md run 17); merged segments cut their local-state pass into pieces
    (``_split``).
    Uniform batches' plans are cached by (shapes, SM count, cfg): planning is host time spent on every call."""
    chunk = max(cfg.fwd_chunk, cfg.bwd_chunk)
    if seg is not None and (seg < 1 or seg % chunk):
        raise ValueError(f"segment_len: got {seg}, expected a positive multiple of chunk_size {chunk}")
    sms = _sms(device)
    if cu_seqlens is None:
        return _uniform_plan(b, t, h, tiles, seg, sms, bool(tma), cfg)
    lens = (cu_seqlens[1:] - cu_seqlens[:-1]).tolist()
    if seg is None:
        seg = cdiv(max(1, t * h * tiles // (cfg.programs_per_sm * sms)), chunk) * chunk
    pairs = [(n, j) for n, ln in enumerate(lens) for j in range(max(1, cdiv(ln, seg)))]
    items = torch.tensor(pairs, dtype=torch.int32, device=device).reshape(-1, 2)
    chunks = (cfg.fwd_chunk, cfg.bwd_chunk)
    return Plan(len(lens), t, *chunks, seg, 0, items, len(pairs), len(pairs) > len(lens), 1, seg, 0)


@functools.lru_cache(maxsize=256)
def _uniform_plan(b, t, h, tiles, seg, sms, tma, cfg: KernelConfig) -> Plan:
    chunks = (cfg.fwd_chunk, cfg.bwd_chunk)
    chunk = max(chunks)
    per = b * h * tiles  # programs per segment index
    auto = seg is None
    if seg is None:
        fit = max(1, cfg.programs_per_sm * sms // per)
        g = 1 if per >= sms else min(fit, cdiv(t, chunk))
        seg = cdiv(cdiv(t, g), chunk) * chunk
    g = cdiv(t, seg)
    r = 1
    want_f = cfg.fwd_fill * cfg.fwd_programs_per_sm * sms
    while auto and r < g and per * cdiv(g, 2 * r) >= want_f:
        r *= 2
    fwd_g = cdiv(t, seg * r)
    if fwd_g > 1 and not tma:
        r, fwd_g = 1, g
    split = _split(per, fwd_g, seg * r // chunk, sms, cfg.split_programs_per_sm) if r > 1 and fwd_g > 1 else 1
    return Plan(b, t, *chunks, seg, g, None, b * g, g > 1, split, seg * r, fwd_g, tma)


def _split(per: int, g: int, chunks_per_seg: int, sms: int, per_sm: int) -> int:
    """Pieces per merged forward segment for the local-state pass: the largest power of two dividing the
    segment's chunk count and at most next_pow2(per_sm x SMs / programs over the g - 1 segments whose states
    are read)."""
    want = next_pow2(cdiv(per_sm * sms, per * (g - 1)))
    split = 1
    while split * 2 <= want and chunks_per_seg % (split * 2) == 0:
        split *= 2
    return split
