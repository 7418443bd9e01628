"""Each modified-SMPO transform acts exactly as specified (values and gradients), and off means off.

Hand-made batch (float64), 2 pairs, T = 5; x = off-completion (prompt or padding, garbage on purpose):
    row 0 chosen   [x, -0.5, -2.5, -0.1e, x]          |C| = 3
    row 1 chosen   [x,  x,   -0.2, -0.4, -0.3e]        |C| = 3
    row 2 rejected [x, -3.0, -0.5, -1.5, -0.7e]        |C| = 4
    row 3 rejected [x, -4.0, -0.9e, x,   x]            |C| = 2
(e = an EOS label). Upstream's transforms wrote into boolean-index copies: every test below that expects a
change would fail on such an inert implementation.
"""

import pytest
import torch

from litlab.alignment.losses import SMPO, smpo_average_logps, smpo_transform_tokens

X = 7.0  # garbage off the completion: must never leak into a mean


def batch():
    lp = torch.tensor(
        [
            [X, -0.5, -2.5, -0.1, X],
            [X, X, -0.2, -0.4, -0.3],
            [X, -3.0, -0.5, -1.5, -0.7],
            [X, -4.0, -0.9, X, X],
        ],
        dtype=torch.float64,
    )
    comp = torch.tensor([[0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 1, 1, 1, 1], [0, 1, 1, 0, 0]], dtype=torch.bool)
    eos = torch.zeros_like(comp)
    eos[0, 3] = eos[1, 4] = eos[2, 4] = eos[3, 2] = True
    return lp, comp, eos, torch.tensor([False, False, True, True])


OFF = dict(eos_rejected_coef=1.0, lower_clip_percentile=None, upper_clip_percentile=None, min_log_prob=None)
PLAIN = [-3.1 / 3, -0.9 / 3, -5.7 / 4, -4.9 / 2]


def avg(**kw):
    lp, comp, eos, rej = batch()
    lp.requires_grad_()
    out = smpo_average_logps(lp, comp, eos, rej, **{**OFF, **kw})
    (out * torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)).sum().backward()  # row weights w
    return out.detach(), lp.grad


def expected_grad(factors):
    """grad = w_row / |C_row| * factor for completion tokens (factor 0: clipped, c: EOS), 0 elsewhere."""
    lp, comp, _, _ = batch()
    g = torch.zeros_like(lp)
    w, n = [1.0, 2.0, 3.0, 4.0], comp.sum(1).tolist()
    for i, j in comp.nonzero().tolist():
        g[i, j] = w[i] / n[i] * factors.get((i, j), 1.0)
    return g


def check(out, grad, means, factors):
    torch.testing.assert_close(out, torch.tensor(means, dtype=torch.float64), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, expected_grad(factors), rtol=1e-12, atol=1e-12)


def test_off_means_off():
    check(*avg(), PLAIN, {})
    check(*avg(eos_rejected_coef=None), PLAIN, {})


@pytest.mark.parametrize(
    "coef,r2,r3", [(-1.0, -4.3 / 4, -3.1 / 2), (0.0, -5.0 / 4, -4.0 / 2), (2.0, -6.4 / 4, -5.8 / 2)]
)
def test_eos_flip_acts_on_rejected_only(coef, r2, r3):
    check(*avg(eos_rejected_coef=coef), PLAIN[:2] + [r2, r3], {(2, 4): coef, (3, 2): coef})


def test_lower_winsorization():
    # raw rejected pool sorted [-4, -3, -1.5, -0.9, -0.7, -0.5]; p 0.3 -> pos 1.5 -> q_lo = -2.25
    out, grad = avg(lower_clip_percentile=0.3)
    check(out, grad, PLAIN[:2] + [-4.95 / 4, -3.15 / 2], {(2, 1): 0.0, (3, 1): 0.0})
    lp, comp, eos, rej = batch()
    _, stats = smpo_transform_tokens(lp, comp, eos, rej, **{**OFF, "lower_clip_percentile": 0.3})
    assert stats["q_lo"].item() == pytest.approx(-2.25) and stats["n_clipped_low"].item() == 2
    assert not stats["q_lo"].requires_grad


def test_quantile_is_taken_after_the_flip():
    # flipped pool sorted [-4, -3, -1.5, -0.5, 0.7, 0.9]; p 0.5 -> pos 2.5 -> q_lo = -1.0 (raw pool: -1.2)
    out, grad = avg(eos_rejected_coef=-1.0, lower_clip_percentile=0.5)
    factors = {(2, 1): 0.0, (2, 3): 0.0, (3, 1): 0.0, (2, 4): -1.0, (3, 2): -1.0}
    check(out, grad, PLAIN[:2] + [-1.8 / 4, -0.1 / 2], factors)


def test_upper_winsorization_of_chosen():
    # chosen pool sorted [-2.5, -0.5, -0.4, -0.3, -0.2, -0.1]; p 0.5 -> q_hi = -0.35
    out, grad = avg(upper_clip_percentile=0.5)
    check(out, grad, [-3.35 / 3, -1.1 / 3] + PLAIN[2:], {(0, 3): 0.0, (1, 2): 0.0, (1, 4): 0.0})


def test_floor_on_rejected_only():
    out, grad = avg(min_log_prob=-2.0)  # chosen -2.5 (row 0) stays: the floor is rejected-only
    check(out, grad, PLAIN[:2] + [-4.7 / 4, -2.9 / 2], {(2, 1): 0.0, (3, 1): 0.0})


def test_order_lower_then_floor():
    # winsorize first (q_lo = -2.25), then floor at -2.0.
    # Floor-first would give q_lo = -1.75 and row 3 -1.325.
    out, grad = avg(lower_clip_percentile=0.3, min_log_prob=-2.0)
    check(out, grad, PLAIN[:2] + [-4.7 / 4, -2.9 / 2], {(2, 1): 0.0, (3, 1): 0.0})


def test_flipped_eos_is_never_floored_and_all_clipped_rows_get_no_gradient():
    out, grad = avg(eos_rejected_coef=-1.0, min_log_prob=0.5)  # floor above everything but flipped EOS 0.7/0.9
    factors = {(2, 1): 0.0, (2, 2): 0.0, (2, 3): 0.0, (3, 1): 0.0, (2, 4): -1.0, (3, 2): -1.0}
    check(out, grad, PLAIN[:2] + [(1.5 + 0.7) / 4, (0.5 + 0.9) / 2], factors)
    out, grad = avg(min_log_prob=0.0)  # every rejected token clipped: zero gradient on the rejected side
    assert grad[2:].abs().sum() == 0 and out[2:].tolist() == [0.0, 0.0]


def test_several_eos_labels_in_a_row_are_all_flipped():
    lp, comp, eos, rej = batch()
    eos[2, 2] = True  # a multi-turn rejected row: two end-of-turn labels
    out = smpo_average_logps(lp, comp, eos, rej, **{**OFF, "eos_rejected_coef": -1.0})
    assert out[2].item() == pytest.approx((-3.0 + 0.5 - 1.5 + 0.7) / 4)


@pytest.mark.parametrize("seed", range(5))
def test_rows_rejected_transforms_never_touch_chosen(seed):
    """Random lengths, padding sides and row orders: chosen rows equal their plain means (guards against
    upstream's flattened-slice bug), and the result is equivariant under row permutation."""
    g = torch.Generator().manual_seed(seed)
    n, t = 10, 12
    lp = -torch.rand(n, t, generator=g, dtype=torch.float64) * 6
    comp = torch.zeros(n, t, dtype=torch.bool)
    eos = torch.zeros_like(comp)
    for i in range(n):
        length = int(torch.randint(1, t, (1,), generator=g))
        start = int(torch.randint(0, t - length + 1, (1,), generator=g))
        comp[i, start : start + length] = True
        eos[i, start + length - 1] = bool(torch.rand(1, generator=g) < 0.8)
    rej = torch.randperm(n, generator=g) < n // 2
    kw = dict(eos_rejected_coef=-1.0, lower_clip_percentile=0.1, upper_clip_percentile=None, min_log_prob=-2.3)
    out = smpo_average_logps(lp, comp, eos, rej, **kw)
    plain = (lp * comp).sum(1) / comp.sum(1)
    torch.testing.assert_close(out[~rej], plain[~rej], rtol=0, atol=0)
    assert not torch.allclose(out[rej], plain[rej])
    perm = torch.randperm(n, generator=g)
    torch.testing.assert_close(smpo_average_logps(lp[perm], comp[perm], eos[perm], rej[perm], **kw), out[perm])


def test_bf16_input_runs_in_fp32_and_edge_errors():
    lp, comp, eos, rej = batch()
    out = smpo_average_logps(lp.to(torch.bfloat16), comp, eos, rej)
    assert out.dtype == torch.float32
    comp0 = comp.clone()
    comp0[1] = False
    eos0 = eos & comp0
    with pytest.raises(ValueError, match=r"rows \[1\] have no completion token"):
        smpo_average_logps(lp, comp0, eos0, rej)
    with pytest.raises(ValueError, match="outside completion_mask"):
        smpo_average_logps(lp, comp, eos | ~comp, rej)
    with pytest.raises(ValueError, match="lower_clip_percentile"):
        smpo_average_logps(lp, comp, eos, rej, lower_clip_percentile=2.0)
    with pytest.raises(ValueError, match="is_rejected"):
        smpo_average_logps(lp, comp, eos, rej[:3])
    lp_nan = lp.clone()
    lp_nan[0, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        smpo_average_logps(lp_nan, comp, eos, rej)


@pytest.mark.parametrize("coef,sign", [(-1.0, -1), (1.0, 1), (0.0, 0)])
def test_eos_logit_gradient_sign(coef, sign):
    """lambda = 1, margin unmet: dL/d(EOS logit at the rejected EOS position) has the sign of c."""
    torch.manual_seed(0)
    v, eos_id = 6, 5
    logits = torch.randn(4, 5, v, dtype=torch.float64, requires_grad=True)
    _, comp, eos, rej = batch()
    labels = torch.randint(0, eos_id, (4, 5))
    labels[eos] = eos_id
    lp = logits.log_softmax(-1).gather(-1, labels[..., None])[..., 0] * comp
    objective = SMPO(margin=10.0, chosen_sft_ratio=1.0, eos_rejected_coef=coef, lower_clip_percentile=None,
                     min_log_prob=None)  # fmt: skip
    loss, _ = objective(
        lp, dict(completion_mask=comp, eos_mask=eos, is_rejected=rej, pair_index=torch.tensor([0, 1, 0, 1]))
    )
    loss.backward()
    g = logits.grad[2, 4, eos_id].item()
    assert (g > 0) - (g < 0) == sign
