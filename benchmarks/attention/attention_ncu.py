"""Driver for Nsight Compute: runs litlab's Lightning Attention-2 forward (and optionally forward+backward) a
few times and marks the last call with an NVTX range "prof", so that `ncu --nvtx --nvtx-include prof/` reads the
hardware counters of exactly one call's kernels. 64k tokens per call, H=16, bf16, ALiBi slopes, as in
``attention_kernels.py``. Used by the ``ncu`` step of ``attention_gpu_run.sh``:

    ncu --clock-control none --nvtx --nvtx-include prof/ --section SpeedOfLight \\
        python benchmarks/attention/attention_ncu.py --t 32768 --config '{"fwd_elems": 16384, "fwd": {"num_warps": 8}}'
"""

from __future__ import annotations

import argparse
import json

import torch

from litlab.attention.ops import slopes
from litlab.attention.ops.chunk_triton import triton_lightning_attn
from litlab.attention.ops.triton_config import default_config

H, TOKENS = 16, 65536


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t", type=int, default=8192)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--no-decay", action="store_true")
    ap.add_argument("--backward", action="store_true", help="profile forward+backward, not the forward alone")
    ap.add_argument("--config", default="", help="JSON patch of the GPU's KernelConfig (KernelConfig.patched)")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    cfg = default_config(torch.device("cuda")).patched(json.loads(args.config) if args.config else {})
    b = max(1, TOKENS // args.t)
    gen = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (
        torch.randn(b, args.t, H, args.d, device="cuda", dtype=torch.bfloat16, generator=gen).mul_(0.1)
        for _ in range(3)
    )
    s = None if args.no_decay else slopes(H, kind="alibi").cuda()
    if args.backward:
        q, k, v = (x.requires_grad_() for x in (q, k, v))
    do = torch.randn_like(v)

    def call():
        o = triton_lightning_attn(q, k, v, s, 1.0, None, None, False, config=cfg)[0]
        if args.backward:
            torch.autograd.grad(o, (q, k, v), do)

    for i in range(args.reps):
        if i == args.reps - 1:
            torch.cuda.nvtx.range_push("prof")
        with torch.no_grad() if not args.backward else torch.enable_grad():
            call()
        torch.cuda.synchronize()
        if i == args.reps - 1:
            torch.cuda.nvtx.range_pop()
    print(f"T={args.t} B={b} D={args.d} decay={s is not None} config={json.dumps(args.config)}: ran {args.reps} calls")


if __name__ == "__main__":
    main()
