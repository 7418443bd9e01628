"""Per-token label log-probs from hidden states and the LM head without [R, T, V] logits.

Design after TRL's `ChunkedLogProbFunction` (trl/kernels/chunked_logprob.py): gather the labelled positions
H_sel [N, d] and targets y [N]; forward over vocab tiles x token tiles computes z = H_tile W_v^T (+ b), an
online log-sum-exp and z_y, and saves only LSE [N]. Backward recomputes each tile:
p = exp(z' - LSE), dz' = g (onehot(y) - p), dz = dz' * dz'/dz, dH += dz W_v, dW_v += dz^T H_tile.
Peak extra memory is O(token_chunk * vocab_chunk) plus fp32 accumulators dH [N, d] and dW_v [n_v, d].
Loss math is fp32 (float64 inputs stay float64); z itself is produced in the input dtype, like the plain
path. On CUDA the elementwise tile work is fused by `torch.compile` (set `compile=False` to disable).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .head import HeadTransform


def _tile_logits(z: Tensor, bias: Tensor | None, acc: torch.dtype) -> Tensor:
    z = z.to(acc)
    return z if bias is None else z + bias.to(acc)


def _fwd_tile(z: Tensor, y_local: Tensor, bias: Tensor | None, transform: HeadTransform):
    """(log-sum-exp [n], z'_y [n]) of one tile; for y_local outside [0, n_v) the caller masks z'_y."""
    acc = torch.float64 if z.dtype == torch.float64 else torch.float32
    zt = transform.apply(_tile_logits(z, bias, acc))
    picked = zt.gather(1, y_local.clamp(0, zt.shape[1] - 1)[:, None])[:, 0]
    return zt.logsumexp(-1), picked


def _bwd_tile(z, y_local, bias, lse, g, transform: HeadTransform, out_dtype: torch.dtype) -> Tensor:
    """dL/dz of one tile: g (onehot(y) - softmax(z')) * dz'/dz, in out_dtype."""
    z_raw = _tile_logits(z, bias, lse.dtype)
    p = torch.exp(transform.apply(z_raw) - lse[:, None])
    cols = torch.arange(z.shape[1], device=z.device)
    dz = g[:, None] * ((cols[None, :] == y_local[:, None]).to(p.dtype) - p)
    if not transform.is_identity:
        dz = dz * transform.derivative(z_raw)
    return dz.to(out_dtype)


def _bwd_tile_inplace(z, y_local, bias, lse, g, transform: HeadTransform) -> Tensor:
    """`_bwd_tile` written over z (same dtype): compiled, one elementwise kernel and no second logits buffer."""
    return z.copy_(_bwd_tile(z, y_local, bias, lse, g, transform, z.dtype))


_COMPILED: dict[str, object] = {}


def _tile_fns(use_compile: bool):
    if not use_compile:
        return _fwd_tile, _bwd_tile
    if not _COMPILED:  # dynamic=None: static graphs first; a new tile size (a leftover) marks it dynamic once
        _COMPILED["fwd"] = torch.compile(_fwd_tile, dynamic=None)
        _COMPILED["bwd"] = torch.compile(_bwd_tile, dynamic=None)
        _COMPILED["bwd_inplace"] = torch.compile(_bwd_tile_inplace, dynamic=None)
    return _COMPILED["fwd"], _COMPILED["bwd"]


def _bwd_inplace_fn(use_compile: bool):
    """Backward tile over z in place when compiled; the eager form allocates dz (fp32 temporaries anyway)."""
    if not use_compile:
        return lambda z, y, b, lse, g, transform: _bwd_tile(z, y, b, lse, g, transform, z.dtype)
    _tile_fns(True)
    return _COMPILED["bwd_inplace"]


def _mm_acc(a: Tensor, b: Tensor, acc: torch.dtype) -> Tensor:
    """a @ b returned in acc; on CUDA with 16-bit inputs the product is written in fp32 directly."""
    if a.is_cuda and a.dtype in (torch.bfloat16, torch.float16) and acc == torch.float32:
        try:
            return torch.mm(a, b, out_dtype=torch.float32)
        except (TypeError, RuntimeError):
            pass
    return (a @ b).to(acc)


class ChunkedLogProbFunction(torch.autograd.Function):
    """l = log softmax(transform(H W^T + b))[y]; H [N, d], W [V, d], b [V] | None, y [N] -> fp32 [N]."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, transform, token_chunk, vocab_chunk, use_compile):
        acc = torch.float64 if hidden.dtype == torch.float64 else torch.float32
        n, v = hidden.shape[0], weight.shape[0]
        lse = hidden.new_full((n,), float("-inf"), dtype=acc)
        z_y = hidden.new_zeros((n,), dtype=acc)
        fwd, _ = _tile_fns(use_compile)
        for v0 in range(0, v, vocab_chunk):
            w = weight[v0 : v0 + vocab_chunk]
            b = None if bias is None else bias[v0 : v0 + vocab_chunk]
            for t0 in range(0, n, token_chunk):
                sl = slice(t0, t0 + token_chunk)
                y_local = targets[sl] - v0
                tile_lse, picked = fwd(hidden[sl] @ w.T, y_local, b, transform)
                lse[sl] = torch.logaddexp(lse[sl], tile_lse)
                in_tile = (y_local >= 0) & (y_local < w.shape[0])
                z_y[sl] = torch.where(in_tile, picked, z_y[sl])
        ctx.save_for_backward(hidden, weight, bias, targets, lse)
        ctx.cfg = (transform, token_chunk, vocab_chunk, use_compile)
        return z_y - lse

    @staticmethod
    def backward(ctx, grad):
        hidden, weight, bias, targets, lse = ctx.saved_tensors
        transform, token_chunk, vocab_chunk, use_compile = ctx.cfg
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        acc, g = lse.dtype, grad.to(lse.dtype)
        _, bwd = _tile_fns(use_compile)
        d_hidden = torch.zeros(hidden.shape, dtype=acc, device=hidden.device) if need_h else None
        d_weight = torch.empty_like(weight) if need_w else None
        d_bias = torch.empty_like(bias) if need_b else None
        for v0 in range(0, weight.shape[0], vocab_chunk):
            w = weight[v0 : v0 + vocab_chunk]
            b = None if bias is None else bias[v0 : v0 + vocab_chunk]
            dw = torch.zeros(w.shape, dtype=acc, device=w.device) if need_w else None
            db = torch.zeros(w.shape[0], dtype=acc, device=w.device) if need_b else None
            for t0 in range(0, hidden.shape[0], token_chunk):
                sl = slice(t0, t0 + token_chunk)
                h = hidden[sl]
                dz = bwd(h @ w.T, targets[sl] - v0, b, lse[sl], g[sl], transform, hidden.dtype)
                if need_h:
                    d_hidden[sl] += _mm_acc(dz, w, acc)
                if need_w:
                    dw += _mm_acc(dz.T, h, acc)
                if need_b:
                    db += dz.to(acc).sum(0)
            if need_w:
                d_weight[v0 : v0 + vocab_chunk] = dw.to(weight.dtype)
            if need_b:
                d_bias[v0 : v0 + vocab_chunk] = db.to(bias.dtype)
        d_hidden = None if d_hidden is None else d_hidden.to(hidden.dtype)
        return d_hidden, d_weight, d_bias, None, None, None, None, None
