"""Launch configuration of the Lightning Attention-2 Triton kernels (arXiv 2401.04658): chunk sizes, tile
widths, warps and pipeline stages per kernel, and how many programs per SM the segment plan aims for.

The defaults were picked by ``benchmarks/attention_sweep.py`` (T = 4096) and ``benchmarks/attention_fwd_grid.py``
(segment plan at T = 16k-64k) on one H200 (bf16, 64k tokens per call, H = 16, D = E = 128; BENCHMARKS.md
runs 4, 8-10). ``CONFIG`` is a plain dict so the sweep can change it in place; under the interpreter only the
chunk sizes and tile widths matter.
"""

from __future__ import annotations

import copy

CONFIG: dict = {
    # chunk C of the forward kernels (fwd, seg_state) and of the backward kernels (dq, dk, dv, dkv, seg_grad)
    "fwd_chunk": 64,
    "bwd_chunk": 64,
    # when B x H x (forward tiles) < SMs, the segment plan aims for programs_per_sm x SMs programs
    "programs_per_sm": 2,
    # segments per sequence: round programs_per_sm x SMs / (B x H x tiles) "up" (at least that many programs)
    # or "down" (at most that many, so the last wave is not a short tail)
    "seg_round": "down",
    # pieces per segment of the forward's local-state pass (seg_state_kernel), so that it fills the GPU even
    # when there are few segments: 1 (off), a power of two, or "auto" (split_programs_per_sm x SMs programs)
    "seg_split": 1,
    "split_programs_per_sm": 2,
    # the forward merges 2, 4, ... of those segments into one while it keeps fwd_fill x fwd_programs_per_sm x SMs
    # programs (its programs fit fewer to an SM than the backward's; the pointer forward only into whole
    # sequences); it then writes the states entering the backward's segments. E.g. T = 16k, B = 4, H = 16: 128
    # programs of whole sequences on 132 SMs (BENCHMARKS.md run 10: forward 0.420 vs 0.490 ms); T = 32k, B = 2:
    # 2 TMA forward segments for the backward's 4 (runs 17-18)
    "fwd_programs_per_sm": 1,
    "fwd_fill": 0.9,
    # seg_split for merged forward segments (few segments: the local-state pass needs pieces to fill the GPU)
    "coarse_split": "auto",
    # "elems": most elements of a program's fp32 state tile; it sets the E tile (fwd, dv) or K tile (dq, dk)
    # as elems // (the other, full head dim), a power of two in [16, padded dim]; the rest are launch options
    "fwd": {"elems": 8192, "num_warps": 4, "num_stages": 2},
    # the forward copies q, k, v and o tiles with the tensor memory accelerator (Hopper+, bf16/fp16, uniform
    # batches, head dims that fill their tiles; ``chunk_triton._use_tma``), else with pointer loads; the TMA
    # forward's launch options (all its plans)
    "fwd_tma": True,
    "fwd_tma_launch": {"num_warps": 4, "num_stages": 3},
    # the K tile widths it is used for: timed on the H200 at 128 (D = 128 and the 128-wide pieces of wider heads;
    # BENCHMARKS.md runs 16-18); other widths keep the pointer loads until timed
    "fwd_tma_widths": (128,),
    # also for the pieces of heads wider than 128 (cut by ``chunk_triton._pieces``): off, as they were slower
    # with it (D = E = 256, 64k tokens: 2.03 ms at T = 1k against 1.67 with pointer loads; BENCHMARKS.md run 19)
    "fwd_tma_pieces": False,
    # the TMA forward stores the states entering the backward's segments inside its chunk loop rather than from an
    # outer loop over those segments (ptxas for sm_90, 3 stages: no spill instead of 64-92 bytes; not yet timed)
    "fwd_tma_bounds_inner": False,
    # launch options of the forward kernel when the plan cuts segments (B x H x tiles < SMs: long T, few
    # sequences), where each program also combines earlier segments' states; the sweep's "fwd_seg" group
    "fwd_seg": {"num_warps": 4, "num_stages": 2},
    # launch options of the whole-sequence forward with fewer programs than SMs (one program per SM)
    "fwd_whole": {"num_warps": 4, "num_stages": 3},
    # the segment kernels; "elems" sets the E tile of the forward's local-state pass (seg_state_kernel)
    "seg": {"elems": 8192, "num_warps": 4, "num_stages": 3},
    "dq": {"elems": 8192, "num_warps": 4, "num_stages": 2},
    # the dq kernel copies k, v, dO (q for the decay gradient) and stores dq through tensor descriptors, where the
    # forward's TMA conditions hold and its K tile divides K (not yet timed), with these launch options (ptxas,
    # sm_90, D = 128: 8 warps, 2 stages 248 registers, no spill, 90 KB; 4 warps spill 152-156 bytes)
    "dq_tma": False,
    "dq_tma_launch": {"num_warps": 8, "num_stages": 2},
    "dk": {"elems": 8192, "num_warps": 4, "num_stages": 3},
    "dv": {"elems": 8192, "num_warps": 4, "num_stages": 3},
    # fuse_dkdv: one reverse sweep with the whole [K, E] state gradient computes dk and dv (dkv_kernel)
    "fuse_dkdv": True,
    "dkv": {"num_warps": 8, "num_stages": 1},
}

DEFAULT = copy.deepcopy(CONFIG)


def launch(kind: str) -> dict:
    """num_warps / num_stages (and maxnreg, the cap on registers per thread, where set) of one kernel kind."""
    return {k: v for k, v in CONFIG[kind].items() if k in ("num_warps", "num_stages", "maxnreg")}


def tile(kind: str, padded: int, other: int) -> int:
    """Width of the tiled head dim (padded size ``padded``) when the other dim (``other``) is kept whole."""
    return min(padded, max(16, CONFIG[kind].get("elems", 8192) // other))
