"""Training FLOPs per token for MFU (model FLOPs utilisation, PaLM arXiv 2204.02311, App. B).

FLOPs/token = 6 * N_matmul (forward + backward of every active weight matrix, LM head included,
embedding lookup excluded) + attention terms per layer and head:
- softmax, causal: 6 * T * d (QK^T and AV over on average T/2 keys, forward + backward);
- lightning (chunk C): 14 * d * (C + d) (intra-chunk tiles + state products).
"""

from __future__ import annotations

import torch

from litlab.attention.layers.ffn import default_hidden
from litlab.attention.models.config import BackboneConfig

# Dense bf16 peak (TFLOP/s) of common accelerators, matched against torch.cuda.get_device_name().
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "4090": 165.0}


def flops_per_token(cfg: BackboneConfig, vocab_size: int, seq_len: int, chunk: int = 64) -> float:
    """Training FLOPs per token of a CausalLM with this config at context `seq_len`."""
    c, h, d = cfg.dim, cfg.num_heads, cfg.head_dim
    kv = cfg.num_heads if cfg.num_kv_heads is None else cfg.num_kv_heads
    hidden = default_hidden(c) if cfg.ffn_hidden is None else cfg.ffn_hidden
    ffn = 3 * c * hidden * (cfg.top_k if cfg.ffn == "moe" else 1) + (c * cfg.num_experts if cfg.ffn == "moe" else 0)
    total = 6.0 * c * vocab_size
    for kind in cfg.layer_types():
        if kind == "L":
            mixer, attn = 5 * c * h * d, 14.0 * d * (chunk + d) * h
        else:
            mixer, attn = 2 * c * h * d + 2 * c * kv * d, 6.0 * seq_len * d * h
        total += 6.0 * (mixer + ffn) + attn
    return total


def peak_flops(device: torch.device, override_tflops: float | None = None) -> float | None:
    """Peak FLOP/s of a device (override first); None when unknown (e.g. CPUs)."""
    if override_tflops is not None:
        return override_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v * 1e12 for k, v in PEAK_TFLOPS.items() if k in name), None)
