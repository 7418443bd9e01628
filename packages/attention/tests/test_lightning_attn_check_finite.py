"""`lightning_attn(..., check_finite=True)` refuses NaN/inf inputs naming the tensor and the first position;
without it (the default, no device sync) a NaN spreads to earlier positions of its chunk, as documented."""

from __future__ import annotations

import pytest
import torch

from litlab.attention.ops import lightning_attn


def inputs(t: int = 37):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, t, 3, 8, generator=g) for _ in range(3))
    return q, k, v, torch.full((3,), 0.1)


@pytest.mark.parametrize("name", ["q", "k", "v"])
def test_non_finite_input_is_refused_by_name(name: str) -> None:
    q, k, v, s = inputs()
    tensors = {"q": q, "k": k, "v": v}
    tensors[name][1, 20, 2, 5] = float("nan")
    tensors[name][1, 30, 0, 0] = float("inf")
    with pytest.raises(ValueError, match=rf"^{name}: got 2 NaN/inf values \(shape \(2, 37, 3, 8\).*first at index "
                                         r"\(1, 20, 2, 5\)\), expected finite values"):  # fmt: skip
        lightning_attn(q, k, v, s, check_finite=True, backend="torch")


def test_non_finite_initial_state_is_refused() -> None:
    q, k, v, s = inputs()
    state = torch.zeros(2, 3, 8, 8)
    state[0, 1, 2, 3] = float("-inf")
    with pytest.raises(ValueError, match=r"^initial_state: got 1 NaN/inf values"):
        lightning_attn(q, k, v, s, initial_state=state, check_finite=True)


def test_finite_inputs_pass_unchanged_and_default_does_not_check() -> None:
    q, k, v, s = inputs()
    checked, _ = lightning_attn(q, k, v, s, check_finite=True, backend="torch")
    plain, _ = lightning_attn(q, k, v, s, backend="torch")
    assert torch.equal(checked, plain)
    k[0, 20, 0, 0] = float("nan")  # unchecked: a NaN key reaches outputs before position 20 of its chunk
    o, _ = lightning_attn(q, k, v, s, backend="torch")
    assert o[0, :20, 0].isnan().any(-1).all() and o[1].isfinite().all()
