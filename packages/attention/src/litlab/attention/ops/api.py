"""Public Lightning Attention-2 ops (arXiv 2401.04658): argument checks and backend dispatch."""

from __future__ import annotations

import os

import torch

from litlab.attention.ops import checks
from litlab.attention.ops.chunk_torch import chunk_lightning_attn
from litlab.attention.ops.naive import naive_lightning_attn
from litlab.attention.ops.recurrent import step_torch

BACKENDS = ("auto", "triton", "torch", "naive")


def _triton_ok(x: torch.Tensor) -> bool:
    return x.is_cuda or os.environ.get("TRITON_INTERPRET") == "1"


def lightning_attn(
    q,
    k,
    v,
    decay=None,
    *,
    scale=None,
    initial_state=None,
    output_final_state=False,
    cu_seqlens=None,
    backend="auto",
    sp_group=None,
    check_finite=False,
):
    """Causal linear attention with a per-head exponential decay (Lightning Attention-2).

    Per sequence and head: S_t = lambda S_{t-1} + k_t^T v_t (S_{-1} = initial state or 0),
    o_t = scale * q_t S_t, lambda = exp(-s). The bare op is not a softmax substitute: the layers put a
    norm and a gate after it.

    Args:
        q: queries [B, T, H, D]; fp32, fp16 or bf16 (float64 only for "torch"/"naive").
        k: keys [B, T, H, D], same dtype and device as q.
        v: values [B, T, H, E].
        decay: None (no decay) or slopes s >= 0 of shape [H]; lambda_h = exp(-s_h). Gets a gradient
            when it requires one.
        scale: multiplies q; None means 1/sqrt(D).
        initial_state: [N, H, D, E] fp32 (N = B, or the number of sequences with cu_seqlens).
        output_final_state: return S_{T-1} [N, H, D, E] fp32 (differentiable).
        cu_seqlens: int tensor [N+1] of packed sequence offsets (then B must be 1).
        backend: "auto" (Triton for CUDA tensors, else "torch"), "triton", "torch" or "naive".
        sp_group: a torch.distributed process group over which T is split (sequence parallelism, LASP-2):
            each rank passes its piece; see `ops.seqpar.seqpar_lightning_attn`. None: one device.
        check_finite: refuse NaN/inf in q, k, v and initial_state with a ValueError naming the tensor and the
            first bad position. Off by default because the check reads the tensors back to the host (one
            device sync per call). Without it a non-finite input is not detected: in the chunked
            backends a NaN key or value spreads to every output of its chunk (positions before it included:
            the causal mask multiplies it by 0, which stays NaN) and to every later chunk through the state.

    Returns:
        (o [B, T, H, E] in q's dtype, final_state or None).
    """
    if check_finite:
        checks.check_finite(q=q, k=k, v=v, initial_state=initial_state)
    if sp_group is not None:
        from litlab.attention.ops.seqpar import seqpar_lightning_attn

        return seqpar_lightning_attn(q, k, v, decay, scale=scale, initial_state=initial_state,
                                     output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                                     backend=backend, group=sp_group)  # fmt: skip
    checks.check_qkv(q, k, v, "B, T, H")
    b, t, h, d = q.shape
    e = v.shape[-1]
    if backend not in BACKENDS:
        raise ValueError(f"backend: got {backend!r}, expected one of {BACKENDS}")
    if t < 1 and cu_seqlens is None:
        raise ValueError(f"q: got T = {t}, expected T >= 1")
    checks.check_decay(decay, h, q.device)
    scale = checks.check_scale(scale, d)
    n = checks.check_cu_seqlens(cu_seqlens, b, t, q.device)
    if initial_state is not None:
        checks.check_state("initial_state", initial_state, (n, h, d, e), q)
    if backend == "auto":
        backend = "triton" if q.is_cuda and q.dtype != torch.float64 else "torch"
    if backend == "triton":
        if not _triton_ok(q) or q.dtype == torch.float64:
            raise ValueError(
                f"backend: got 'triton' for {q.dtype} on {q.device}, expected fp16/bf16/fp32 "
                "CUDA tensors (or TRITON_INTERPRET=1)"
            )
        from litlab.attention.ops.chunk_triton import triton_lightning_attn

        o, state = triton_lightning_attn(q, k, v, decay, scale, initial_state, cu_seqlens, output_final_state)
    elif backend == "torch":
        o, state = chunk_lightning_attn(q, k, v, decay, scale, initial_state, cu_seqlens)
    else:
        o, state = naive_lightning_attn(q, k, v, decay, scale, initial_state, cu_seqlens)
    return o, (state if output_final_state else None)


def lightning_attn_step(q, k, v, state, decay=None, *, scale=None):
    """Decode one token per sequence: S <- lambda S + k^T v, o = scale * q S.

    Args:
        q: [B, H, D]; k: [B, H, D]; v: [B, H, E] (fp32, fp16 or bf16).
        state: [B, H, D, E] fp32 (not modified; the new state is returned).
        decay: None or slopes s >= 0 of shape [H].
        scale: multiplies q; None means 1/sqrt(D).

    Returns:
        (o [B, H, E] in q's dtype, new state [B, H, D, E] fp32).
    """
    checks.check_qkv(q, k, v, "B, H")
    b, h, d = q.shape
    checks.check_state("state", state, (b, h, d, v.shape[-1]), q)
    checks.check_decay(decay, h, q.device)
    scale = checks.check_scale(scale, d)
    grad = torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in (q, k, v, state, decay))
    if q.is_cuda and not grad and q.dtype != torch.float64:
        from litlab.attention.ops.recurrent_triton import step_triton

        return step_triton(q, k, v, state, decay, scale)
    return step_torch(q, k, v, state, decay, scale)
