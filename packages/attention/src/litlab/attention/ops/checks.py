"""Input validation for the Lightning Attention ops: every error names the argument, what it got and
what it expects, before any work starts."""

from __future__ import annotations

import math
import weakref

import torch

DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
MAX_HEAD_DIM = 256


def _desc(x: torch.Tensor) -> str:
    return f"shape {tuple(x.shape)}, dtype {x.dtype}, device {x.device}"


def check_tensor(name: str, x, ndim: int, dims: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: got {type(x).__name__}, expected a torch.Tensor {dims}")
    if x.ndim != ndim:
        raise ValueError(f"{name}: got {_desc(x)}, expected {ndim} dims {dims}")


def check_qkv(q, k, v, lead: str) -> None:
    """q, k: [*lead, D]; v: [*lead, E]; one dtype and device; 1 <= D, E <= 256."""
    nd = len(lead.split(","))
    check_tensor("q", q, nd + 1, f"[{lead}, D]")
    check_tensor("k", k, nd + 1, f"[{lead}, D]")
    check_tensor("v", v, nd + 1, f"[{lead}, E]")
    if q.dtype not in DTYPES:
        raise ValueError(f"q: got dtype {q.dtype}, expected one of float16, bfloat16, float32 (float64)")
    for name, x in (("k", k), ("v", v)):
        if x.dtype != q.dtype:
            raise ValueError(f"{name}: got dtype {x.dtype}, expected q's dtype {q.dtype}")
        if x.device != q.device:
            raise ValueError(f"{name}: got device {x.device}, expected q's device {q.device}")
    if k.shape != q.shape:
        raise ValueError(f"k: got shape {tuple(k.shape)}, expected q's shape {tuple(q.shape)}")
    if v.shape[:-1] != q.shape[:-1]:
        raise ValueError(f"v: got shape {tuple(v.shape)}, expected [{lead}, E] = {tuple(q.shape[:-1])} + [E]")
    for name, dim in (("q", q.shape[-1]), ("v", v.shape[-1])):
        if not 1 <= dim <= MAX_HEAD_DIM:
            raise ValueError(f"{name}: got head dim {dim}, expected 1 <= dim <= {MAX_HEAD_DIM}")


# GPU decays whose values were already checked: id -> (weakref, version counter, data pointer). Reading the
# values back costs a device sync per call, which stalls the launch queue; a layer's slope buffer is checked
# once, a learned slope again after each in-place update (its version counter changes).
_CHECKED: dict[int, tuple] = {}


def _already_checked(decay: torch.Tensor) -> bool:
    entry = _CHECKED.get(id(decay))
    return entry is not None and entry[0]() is decay and entry[1:] == (decay._version, decay.data_ptr())


def check_decay(decay, num_heads: int, device: torch.device):
    """None, or finite slopes s >= 0 of shape [H] (a floating tensor on q's device)."""
    if decay is None:
        return
    check_tensor("decay", decay, 1, "[H] of slopes s >= 0")
    if decay.shape[0] != num_heads or not decay.is_floating_point() or decay.device != device:
        raise ValueError(f"decay: got {_desc(decay)}, expected a floating tensor [{num_heads}] on {device}")
    if decay.is_cuda and _already_checked(decay):
        return
    with torch.no_grad():
        ok = bool(((decay >= 0) & torch.isfinite(decay)).all())
    if not ok:
        raise ValueError(f"decay: got {decay.detach().cpu().tolist()}, expected finite slopes s >= 0")
    if decay.is_cuda:
        if len(_CHECKED) > 4096:
            _CHECKED.clear()
        _CHECKED[id(decay)] = (weakref.ref(decay), decay._version, decay.data_ptr())


def check_scale(scale, head_dim: int) -> float:
    if scale is None:
        return head_dim**-0.5
    if isinstance(scale, torch.Tensor) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ValueError(f"scale: got {scale!r}, expected None or a finite float")
    return float(scale)


def check_state(name: str, state, shape: tuple, q: torch.Tensor) -> None:
    """fp32 state (float64 for float64 inputs) of the given shape on q's device."""
    check_tensor(name, state, 4, "[N, H, D, E]")
    want = torch.float64 if q.dtype == torch.float64 else torch.float32
    if tuple(state.shape) != shape or state.dtype != want or state.device != q.device:
        raise ValueError(f"{name}: got {_desc(state)}, expected shape {shape}, dtype {want}, device {q.device}")


def check_cu_seqlens(cu_seqlens, batch: int, total: int, device: torch.device) -> int:
    """int tensor [N+1], 0 = c_0 <= ... <= c_N = T, with B = 1. Returns N."""
    if cu_seqlens is None:
        return batch
    check_tensor("cu_seqlens", cu_seqlens, 1, "[N+1] of sequence offsets")
    if cu_seqlens.dtype not in (torch.int32, torch.int64) or cu_seqlens.device != device:
        raise ValueError(f"cu_seqlens: got {_desc(cu_seqlens)}, expected int32/int64 on {device}")
    if batch != 1:
        raise ValueError(f"q: got batch {batch} with cu_seqlens, expected B = 1 (packed sequences)")
    if cu_seqlens.numel() < 2:
        raise ValueError(f"cu_seqlens: got {cu_seqlens.numel()} entries, expected N+1 >= 2")
    c = cu_seqlens.tolist()
    if c[0] != 0 or c[-1] != total or any(b < a for a, b in zip(c[:-1], c[1:])):
        raise ValueError(
            f"cu_seqlens: got {c[:8]}{'...' if len(c) > 8 else ''}, expected non-decreasing "
            f"offsets from 0 to T = {total}"
        )
    return len(c) - 1


def check_finite(**tensors) -> None:
    """Refuse NaN/inf in any given tensor (``None`` skipped), naming it, the count and the first position.

    One host read per call (``isfinite(...).all()``): a device sync, hence opt-in (``check_finite=True``).
    """
    for name, x in tensors.items():
        if x is None or not isinstance(x, torch.Tensor) or bool(torch.isfinite(x).all()):
            continue
        bad = ~torch.isfinite(x)
        first = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"{name}: got {int(bad.sum())} NaN/inf values ({_desc(x)}; first at index {first}), "
                         "expected finite values (a NaN spreads to every output of its chunk)")  # fmt: skip
