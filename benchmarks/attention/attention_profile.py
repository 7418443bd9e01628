"""Per-kernel CUDA time of litlab's Lightning Attention-2 forward+backward (torch.profiler), with the HBM
bytes each kernel must move at minimum, to show where the time goes. The floors: 2(2K + 2V) bytes per token and head forward, 2(4K + 3V) backward (16-bit tensors, states recomputed).

    python benchmarks/attention/attention_profile.py --t 1024,65536
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from litlab.attention.ops import lightning_attn, slopes

H, D, TOKENS = 16, 128, 65536


def profile_t(t: int, reps: int = 10) -> None:
    b = TOKENS // t
    s = slopes(H, kind="alibi").cuda()
    q, k, v = (
        torch.randn(b, t, H, D, device="cuda", dtype=torch.bfloat16).mul_(0.1).requires_grad_() for _ in range(3)
    )
    do = torch.randn_like(v)

    def fb():  # autograd.grad: no .grad accumulation kernels in the profile
        torch.autograd.grad(lightning_attn(q, k, v, s, scale=1.0)[0], (q, k, v), do)

    for _ in range(3):
        fb()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            fb()
        torch.cuda.synchronize()
    tensor_mb = b * t * H * D * 2 / 1e6
    print(f"\n## T={t} B={b}: one bf16 [B,T,H,D] tensor = {tensor_mb:.0f} MB; per-call CUDA time by kernel")
    rows = [
        (e.key, e.device_time_total / reps / 1e3, e.count // reps)
        for e in prof.key_averages()
        if e.device_time_total > 0
    ]
    for name, ms, cnt in sorted(rows, key=lambda r: -r[1])[:12]:
        print(f"{ms:8.3f} ms  x{cnt}  {name[:90]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t", default="1024,65536")
    for t in map(int, ap.parse_args().t.split(",")):
        profile_t(t)


if __name__ == "__main__":
    main()
