"""Where an LM training step's GPU time goes: torch.profiler over whole steps, kernels grouped by role.

Groups (by kernel name): matmul (cuBLAS/CUTLASS GEMMs), lightning attention (litlab's Triton kernels),
softmax attention (flash / cuDNN / efficient SDPA kernels), cross-entropy (log-softmax / NLL, or the fused
chunked CE's compiled kernels), optimizer (fused AdamW), embedding (gather and its sorted scatter-add
backward), compiled elementwise (Inductor's fused Triton kernels), eager elementwise/norms (ATen
elementwise, reductions, norms, casts, copies). Separately, the GPU time under the
"litlab.linear_cross_entropy" range: the whole fused head + CE (its matmuls included). Used by
`lm_throughput.py --profile`.
"""

from __future__ import annotations

import torch
from torch.profiler import ProfilerActivity, profile

CE_RANGE = "litlab.linear_cross_entropy"
GROUPS = [  # first match wins; patterns are lower-case substrings of the kernel name
    ("matmul", ("gemm", "nvjet", "cutlass", "xmma", "sm90_", "cublas")),
    ("lightning attention", ("fwd_kernel", "dq_kernel", "dk_kernel", "dv_kernel", "dkv_kernel", "seg_")),
    ("softmax attention", ("flash", "fmha", "attention", "cudnn")),
    ("cross-entropy", ("log_softmax", "nll_loss", "logsumexp", "cross_entropy", "softmax")),
    ("optimizer", ("adam", "multi_tensor")),
    ("embedding", ("embedding", "indexselect", "index_select", "radix", "sort", "segment", "index_put")),
    ("compiled elementwise", ("triton_",)),
]


def group_of(name: str) -> str:
    low = name.lower()
    for group, patterns in GROUPS:
        if any(p in low for p in patterns):
            return group
    return "eager elementwise/norm/copy"


def profile_steps(step, steps: int = 2) -> dict:
    """Profile `steps` calls of step() (after the caller's warm-up): per-step ms by group, and top kernels."""
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    events = prof.key_averages()
    cuda = torch.autograd.DeviceType.CUDA
    head_ce = sum(e.device_time_total for e in events if e.key == CE_RANGE) / steps / 1e3
    # the range itself is also listed among the CUDA events (a GPU annotation): keep kernels only
    kernels = [(e.key, e.device_time_total / steps / 1e3, e.count // steps) for e in events if e.device_type == cuda]
    kernels = [k for k in kernels if k[1] > 0 and k[0] != CE_RANGE]
    groups: dict[str, float] = {}
    for name, ms, _ in kernels:
        groups[group_of(name)] = groups.get(group_of(name), 0.0) + ms
    top = sorted(kernels, key=lambda k: -k[1])[:15]
    return {"groups_ms": groups, "total_ms": sum(groups.values()), "head_ce_ms": head_ce, "top": top}


def format_profile(label: str, result: dict) -> str:
    total = result["total_ms"]
    lines = [f"### profile: {label} (GPU kernel time per step {total:.1f} ms)", "", "| group | ms/step | share |"]
    lines.append("|---|---:|---:|")
    for group, ms in sorted(result["groups_ms"].items(), key=lambda g: -g[1]):
        lines.append(f"| {group} | {ms:.1f} | {100 * ms / total:.0f}% |")
    if result["head_ce_ms"]:
        lines += ["", f"fused head + cross-entropy range (its matmuls included): {result['head_ce_ms']:.1f} ms/step"]
    lines += ["", "top kernels (ms/step, launches/step):"]
    lines += [f"  {ms:7.2f}  x{n:<4d} {name[:100]}" for name, ms, n in result["top"]]
    return "\n".join(lines)
