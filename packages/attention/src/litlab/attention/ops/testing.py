"""Helpers to check Lightning Attention backends against the float64 naive reference:
random inputs, a loss that reaches every output (o and the final state), and the relative Frobenius error
rel(x) = ||x - x_ref|| / ||x_ref||."""

from __future__ import annotations

import torch

from litlab.attention.ops.api import lightning_attn


def rel(x: torch.Tensor, ref: torch.Tensor) -> float:
    """Relative Frobenius error; inf when x has non-finite entries."""
    x, ref = x.detach().double(), ref.detach().double()
    if not torch.isfinite(x).all():
        return float("inf")
    return float((x - ref).norm() / ref.norm().clamp_min(1e-300))


def make_inputs(b, t, h, d, e, dtype=torch.float32, device="cpu", decay=None, state=False, n_seq=None, seed=0):
    """Random q, k, v (scaled so outputs stay O(1)), slopes, initial state and output/state cotangents."""
    g = torch.Generator().manual_seed(seed)
    rnd = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)
    n = b if n_seq is None else n_seq
    inputs = {
        "q": rnd(b, t, h, d),
        "k": rnd(b, t, h, d) / d**0.5,
        "v": rnd(b, t, h, e),
        "decay": None if decay is None else torch.as_tensor(decay, dtype=torch.float64),
        "initial_state": rnd(n, h, d, e) / d**0.5 if state else None,
        "do": rnd(b, t, h, e),
        "ds": rnd(n, h, d, e),
    }
    out = {}
    for name, x in inputs.items():
        if x is None:
            out[name] = None
        elif name in ("q", "k", "v"):
            out[name] = x.to(dtype).to(device)  # rounded inputs; the reference upcasts these
        elif dtype == torch.float64:
            out[name] = x.to(device)
        else:
            out[name] = x.float().to(device)
    return out


def run(inp: dict, backend: str, precision=None, grad: bool = True, op=lightning_attn, **kw):
    """Forward (and backward of sum(o*do) + sum(S_T*ds)) through one backend.

    ``precision=torch.float64`` upcasts the (already rounded) inputs first: the reference. ``op`` replaces
    ``lightning_attn`` (same signature), e.g. to pass kernel options. Returns a dict
    with o, final state and the gradients of every tensor input that exists.
    """
    leaves = {}
    for name in ("q", "k", "v", "decay", "initial_state"):
        x = inp[name]
        if x is not None:
            x = x.detach().to(precision or x.dtype).requires_grad_(grad)
        leaves[name] = x
    o, st = op(
        leaves["q"],
        leaves["k"],
        leaves["v"],
        leaves["decay"],
        initial_state=leaves["initial_state"],
        output_final_state=True,
        backend=backend,
        **kw,
    )
    res = {"o": o.detach(), "final_state": st.detach()}
    if grad:
        do, ds = inp["do"].to(o.dtype), inp["ds"].to(st.dtype)
        ((o * do).sum() + (st * ds).sum()).backward()
        for name, x in leaves.items():
            if x is not None:
                res["d" + name] = x.grad
    return res


def compare(got: dict, ref: dict) -> dict:
    """rel error per tensor present in both."""
    return {name: rel(got[name], ref[name]) for name in ref if name in got and got[name] is not None}
