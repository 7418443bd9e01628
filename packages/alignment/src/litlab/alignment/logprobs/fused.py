"""LM head fused with a token-level loss: the loss gradient is formed inside the forward pass.

`chunked_token_logps` returns label log-probs l [R, T] and recomputes every logit tile in backward: four head
GEMMs per token (z in forward; z, dH, dW in backward). When the loss L(l) is known, the backward of the head
can run as soon as the gradient g = dL/dl of a token is final, while its logits are still in memory: three
GEMMs per token (z, dH = dz W, dW = dz^T H with dz = g (onehot(y) - softmax(z))), as Liger-Kernel's chunked
preference losses do per pair. Unlike Liger, the loss here is any function of the per-token log-probs
(SMPO's batch-pooled quantile included), and g comes from autograd on that small tensor.

Dependencies. g of a row is final once the log-probs of every row it depends on are known: deps(r) =
group(r) ∪ shared. Preference losses are sums over pairs (groups = pairs, shared = none); SMPO's lower
winsorization pools all rejected tokens (shared = rejected rows). Rows are computed shared-first, then group by
group; each token chunk's bf16 logits [n_t, V] stay cached (up to `cache_gib`) until its rows are final, else
they are recomputed (a fourth GEMM for those tokens only). When the last row is computed, the loss is evaluated
on all log-probs: its value and logs are returned, and its gradient must equal the earlier partial ones (a
loss that is not separable as declared raises instead of returning a wrong gradient).

Exactness: the same bf16 logits, fp32 log-sum-exp and bf16 dz as the plain path
`log_softmax(H W^T).float().gather`; float64 inputs stay float64 (tests compare in float64).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .chunked import _bwd_inplace_fn, _mm_acc, _tile_fns

LossFn = Callable[[Tensor], "tuple[Tensor, dict] | Tensor"]


def _check_plan(rows: int, groups: Sequence[Sequence[int]] | None, shared: Sequence[int]) -> tuple[list, list]:
    groups = [list(range(rows))] if groups is None else [sorted({int(r) for r in g}) for g in groups]
    flat = [r for g in groups for r in g]
    if sorted(flat) != list(range(rows)):
        raise ValueError(f"groups must partition the rows 0..{rows - 1} exactly once, got {groups}")
    shared = sorted({int(r) for r in shared})
    if any(not 0 <= r < rows for r in shared):
        raise ValueError(f"shared rows must be in [0, {rows}), got {shared}")
    return groups, shared


def _chunks(order: list[int], offsets: list[int], counts: list[int], token_chunk: int) -> list[list]:
    """Split the rows' token ranges, in `order`, into chunks of <= token_chunk tokens: [(row, start, end)]."""
    chunks, cur, size = [], [], 0
    for r in order:
        start, end = offsets[r], offsets[r] + counts[r]
        while start < end:
            take = min(end - start, token_chunk - size)
            cur.append((r, start, start + take))
            start, size = start + take, size + take
            if size == token_chunk:
                chunks.append(cur)
                cur, size = [], 0
    return chunks + ([cur] if cur else [])


def _index(segments: list, device) -> slice | Tensor:
    if len(segments) == 1:
        return slice(segments[0][1], segments[0][2])
    return torch.cat([torch.arange(s, e, device=device) for _, s, e in segments])


class _State:
    """Everything the forward accumulates: log-probs, LSE, final gradients, the logits cache, dH, dW, db."""

    def __init__(self, hidden, weight, bias, cache_bytes: float):
        n, acc = hidden.shape[0], torch.float64 if hidden.dtype == torch.float64 else torch.float32
        self.acc = acc
        self.ell = hidden.new_zeros(n, dtype=acc)
        self.lse = hidden.new_zeros(n, dtype=acc)
        self.g = hidden.new_zeros(n, dtype=acc)
        self.d_hidden = hidden.new_zeros(hidden.shape, dtype=acc)
        self.d_weight = torch.zeros(weight.shape, dtype=acc, device=weight.device)
        self.d_bias = None if bias is None else torch.zeros(bias.shape, dtype=acc, device=bias.device)
        self.cache: dict[int, Tensor] = {}
        self.cache_left = cache_bytes
        self.loss: Tensor | None = None
        self.info: dict = {}


def _accumulate(out: Tensor, a: Tensor, b: Tensor) -> None:
    """out += a @ b with out fp32 and a, b 16-bit: fp32 output straight from the GEMM on CUDA."""
    if out.is_cuda and a.dtype in (torch.bfloat16, torch.float16) and out.dtype == torch.float32:
        try:
            torch.addmm(out, a, b, out_dtype=torch.float32, out=out)
            return
        except (TypeError, RuntimeError):
            pass
    out += (a @ b).to(out.dtype)


class FusedLinearTokenLoss(torch.autograd.Function):
    """loss = loss_fn(scatter(log softmax(transform(H W^T + b))[y])); gradients computed in forward.

    loss_fns = (partial, full): the loss for the evaluations before the last one, and for the last one."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, loss_fns, scatter, plan, cfg, info_out):
        st = _State(hidden, weight, bias, cfg["cache_gib"] * 2**30)
        _drive(st, hidden, weight, bias, targets, loss_fns, scatter, plan, cfg)
        info_out.update(st.info)
        d_bias = None if st.d_bias is None else st.d_bias.to(bias.dtype)
        ctx.save_for_backward(st.d_hidden.to(hidden.dtype), st.d_weight.to(weight.dtype), d_bias)
        return st.loss.detach()

    @staticmethod
    def backward(ctx, grad):
        d_hidden, d_weight, d_bias = ctx.saved_tensors
        d_bias = None if d_bias is None else d_bias * grad.to(d_bias.dtype)
        out = (d_hidden * grad.to(d_hidden.dtype), d_weight * grad.to(d_weight.dtype), d_bias)
        return (*out, None, None, None, None, None, None)


def _drive(st, hidden, weight, bias, targets, loss_fns, scatter, plan, cfg) -> None:
    """Compute chunks in plan order; evaluate the loss when rows become final; run their head backward."""
    groups, shared, offsets, counts = plan
    deps = {r: set(g) | set(shared) for g in groups for r in g}
    order = shared + [r for g in groups for r in g if r not in set(shared)]
    chunks = _chunks(order, offsets, counts, cfg["token_chunk"])
    remaining = dict(enumerate(counts))
    done, final, pending = {r for r in order if counts[r] == 0}, set(), []
    fwd, _ = _tile_fns(cfg["compile"])
    for k, segs in enumerate(chunks):
        idx = _index(segs, hidden.device)
        z = _logits(hidden[idx], weight)
        lse, picked = fwd(z, targets[idx], bias, cfg["transform"])
        st.ell[idx], st.lse[idx] = picked - lse, lse
        st.cache[k] = z  # always kept until this chunk's own flush decision, even over the budget
        st.cache_left -= z.numel() * z.element_size()
        del z
        pending.append(k)
        for r, s, e in segs:
            remaining[r] -= e - s
            done |= {r} if remaining[r] == 0 else set()
        ready = {r for r in order if r not in final and deps[r] <= done}
        if ready:
            _evaluate(st, loss_fns, scatter, ready, final, offsets, counts, last=len(done) == len(order))
            pending = _flush(st, pending, chunks, final, hidden, weight, bias, targets, cfg)
        if k in st.cache and st.cache_left < 0:  # over the budget: drop, recompute at its flush
            dropped = st.cache.pop(k)  # its own dtype: bf16 under autocast even for fp32 hidden
            st.cache_left += dropped.numel() * dropped.element_size()
    if len(final) != len(order) or st.loss is None:
        raise AssertionError(f"internal: rows {sorted(set(order) - final)} never became final")


def _logits(h: Tensor, weight: Tensor) -> Tensor:
    return h @ weight.T  # [n, V] in the input dtype, like the plain path


def _evaluate(st, loss_fns, scatter, ready, final, offsets, counts, last: bool) -> None:
    """Loss and dL/dl at the current log-probs; store g of the newly final rows (check the others if last)."""
    with torch.enable_grad():
        lp = st.ell.detach().requires_grad_()
        loss, info = loss_fns[1 if last else 0](scatter(lp))  # (partial, full)
        if loss.ndim != 0:
            raise ValueError(f"loss_fn must return a scalar loss, got shape {tuple(loss.shape)}")
        (g,) = torch.autograd.grad(loss, lp, allow_unused=True)
    g = torch.zeros_like(lp) if g is None else g.detach()
    for r in ready:
        st.g[offsets[r] : offsets[r] + counts[r]] = g[offsets[r] : offsets[r] + counts[r]]
    if last:
        same = (g == st.g) | (g.isnan() & st.g.isnan())  # NaN (or inf) in both: consistent, as the plain path
        finite = g[g.isfinite()].abs()
        scale = finite.max().clamp_min(1e-30) if finite.numel() else 1.0
        err = (torch.where(same, 0.0, (g - st.g).abs()).max() / scale).item()
        if not err <= 1e-5:  # a NaN on one side only fails too
            raise RuntimeError(
                f"the loss gradient of early rows changed by {err:.2e} (relative) once all rows were known: the "
                "loss is not separable by the given groups / shared rows (or partial_loss_fn is not the same loss); "
                "pass groups=None"
            )
        st.loss, st.info = loss.detach(), info
    final |= ready


def _flush(st, pending, chunks, final, hidden, weight, bias, targets, cfg) -> list[int]:
    """Head backward of every pending chunk whose rows are all final; returns the chunks still pending."""
    bwd = _bwd_inplace_fn(cfg["compile"])
    left = []
    for k in pending:
        if not all(r in final for r, _, _ in chunks[k]):
            left.append(k)
            continue
        idx = _index(chunks[k], hidden.device)
        h = hidden[idx]
        z = st.cache.pop(k, None)
        if z is None:
            z = _logits(h, weight)
        else:
            st.cache_left += z.numel() * z.element_size()
        dz = bwd(z, targets[idx], bias, st.lse[idx], st.g[idx], cfg["transform"])  # over z when compiled
        del z
        st.d_hidden[idx] = _mm_acc(dz, weight, st.acc)
        _accumulate(st.d_weight, dz.T, h)
        if st.d_bias is not None:
            st.d_bias += dz.to(st.acc).sum(0)
    return left
