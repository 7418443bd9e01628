"""smpo_loss, dpo_loss, simpo_loss, orpo_loss against values worked out by hand (python `math`)."""

import math

import pytest
import torch

from litlab.alignment.losses import dpo_loss, log1mexp, orpo_loss, simpo_loss, smpo_loss

sp = lambda x: math.log1p(math.exp(x))  # softplus: -log sigmoid(-x)
T64 = lambda *v: torch.tensor(v, dtype=torch.float64)


# u = (c - r) - 0.5 = (-0.3, 0.5, -1.5); beta 2 -> beta*u = (-0.6, 1.0, -3.0); delta 0.2
C, R = T64(-1.0, -0.5, -2.0), T64(-1.2, -1.5, -1.0)
SMPO_EXPECTED = {
    "smooth_lower_bound": [0.36, 0.0, 9.0],
    "smooth_double_bound": [0.36, 0.36, 9.0],  # second pair: u - delta = 0.3 -> (2*0.3)^2
    "ipo": [0.36, 1.0, 9.0],
    "hinge": [0.6, 0.0, 3.0],
    "hinge_unit": [1.6, 0.0, 4.0],
    "sigmoid": [sp(0.6), sp(-1.0), sp(3.0)],
}


@pytest.mark.parametrize("loss_type", list(SMPO_EXPECTED))
def test_smpo_loss_values(loss_type):
    out = smpo_loss(C, R, beta=2.0, margin=0.5, loss_type=loss_type, delta=0.2)
    torch.testing.assert_close(out, T64(*SMPO_EXPECTED[loss_type]), rtol=1e-12, atol=1e-12)


def test_smpo_loss_gradients_by_hand():
    c, r = C.clone().requires_grad_(), R.clone().requires_grad_()
    smpo_loss(c, r, beta=2.0, margin=0.5).sum().backward()
    # d/dc max(0, -beta u)^2 = -2 beta max(0, -beta u): pair 1 has met the margin -> exactly 0
    torch.testing.assert_close(c.grad, T64(-2.4, 0.0, -12.0))
    torch.testing.assert_close(r.grad, T64(2.4, 0.0, 12.0))
    c.grad = None
    smpo_loss(c, r, beta=2.0, margin=0.5, loss_type="hinge").sum().backward()
    torch.testing.assert_close(c.grad, T64(-2.0, 0.0, -2.0))


def test_smpo_loss_defaults_and_dtype():
    c, r = torch.tensor([-1.0], dtype=torch.bfloat16), torch.tensor([-1.0], dtype=torch.bfloat16)
    out = smpo_loss(c, r)  # defaults beta 1.2, margin 0.35: (1.2 * 0.35)^2
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor([0.42**2]))


def test_smpo_loss_bad_input():
    with pytest.raises(ValueError, match="loss_type"):
        smpo_loss(C, R, loss_type="nope")
    with pytest.raises(ValueError, match="1-D"):
        smpo_loss(C[None], R[None])
    with pytest.raises(ValueError, match="batch size"):
        smpo_loss(C, R[:2])
    with pytest.raises(ValueError, match="beta"):
        smpo_loss(C, R, beta=0.0)
    with pytest.raises(TypeError, match="floating"):
        smpo_loss(torch.tensor([1]), torch.tensor([1]))


# DPO: chosen ratio (1, 0), rejected ratio (-1, 1) -> Delta (2, -1); beta 0.5 -> beta*Delta (1, -0.5)
PC, PR, RC, RR = T64(-10.0, -8.0), T64(-12.0, -7.0), T64(-11.0, -8.0), T64(-11.0, -8.0)


@pytest.mark.parametrize(
    "loss_type,eps,expected",
    [
        ("sigmoid", 0.0, [sp(-1.0), sp(0.5)]),
        ("sigmoid", 0.1, [0.9 * sp(-1.0) + 0.1 * sp(1.0), 0.9 * sp(0.5) + 0.1 * sp(-0.5)]),
        ("robust", 0.1, [(0.9 * sp(-1.0) - 0.1 * sp(1.0)) / 0.8, (0.9 * sp(0.5) - 0.1 * sp(-0.5)) / 0.8]),
        ("hinge", 0.0, [0.0, 1.5]),
        ("ipo", 0.0, [(2.0 - 1.0) ** 2, (-1.0 - 1.0) ** 2]),  # 1/(2 beta) = 1
    ],
)
def test_dpo_loss_values(loss_type, eps, expected):
    losses, rc, rr = dpo_loss(PC, PR, RC, RR, beta=0.5, loss_type=loss_type, label_smoothing=eps)
    torch.testing.assert_close(losses, T64(*expected), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(rc, T64(0.5, 0.0))
    torch.testing.assert_close(rr, T64(-0.5, 0.5))


def test_dpo_gradient_and_detached_rewards():
    pc = PC.clone().requires_grad_()
    losses, rc, _ = dpo_loss(pc, PR, RC, RR, beta=0.5)
    assert not rc.requires_grad
    losses.sum().backward()
    sig = lambda x: 1 / (1 + math.exp(-x))
    torch.testing.assert_close(pc.grad, T64(-0.5 * sig(-1.0), -0.5 * sig(0.5)))  # -beta * sigma(-beta Delta)


def test_dpo_bad_input():
    with pytest.raises(ValueError, match="label_smoothing"):
        dpo_loss(PC, PR, RC, RR, loss_type="robust", label_smoothing=0.5)
    with pytest.raises(ValueError, match="loss_type"):
        dpo_loss(PC, PR, RC, RR, loss_type="kto")
    with pytest.raises(ValueError, match="ref_rejected_logps|batch size"):
        dpo_loss(PC, PR, RC, RR[:1])


def test_simpo_loss_values_and_grad():
    c, r = T64(-1.0, -2.0).requires_grad_(), T64(-1.5, -1.0)
    losses, rc, rr = simpo_loss(c, r, beta=2.0, gamma=0.5)  # z = 2*(c-r) - 0.5 = (0.5, -2.5)
    torch.testing.assert_close(losses, T64(sp(-0.5), sp(2.5)))
    torch.testing.assert_close(rc, T64(-2.0, -4.0))
    torch.testing.assert_close(rr, T64(-3.0, -2.0))
    losses.sum().backward()
    sig = lambda x: 1 / (1 + math.exp(-x))
    torch.testing.assert_close(c.grad, T64(-2.0 * sig(-0.5), -2.0 * sig(2.5)))
    smoothed, _, _ = simpo_loss(c, r, beta=2.0, gamma=0.5, label_smoothing=0.2)
    torch.testing.assert_close(smoothed.detach(), T64(0.8 * sp(-0.5) + 0.2 * sp(0.5), 0.8 * sp(2.5) + 0.2 * sp(-2.5)))


def test_orpo_loss_values():
    c, r = T64(-0.5, -0.01), T64(-1.5, -3.0)
    lo = lambda s: s - math.log(1 - math.exp(s))  # log odds of one answer
    expected = [-0.1 * -sp(-(lo(-0.5) - lo(-1.5))), -0.1 * -sp(-(lo(-0.01) - lo(-3.0)))]
    torch.testing.assert_close(orpo_loss(c, r, beta=0.1), T64(*expected), rtol=1e-12, atol=1e-12)


def test_log1mexp_is_stable_at_both_ends():
    x = T64(-1e-12, -0.3, -0.7, -50.0)
    expected = T64(math.log(-math.expm1(-1e-12)), math.log(1 - math.exp(-0.3)), math.log(1 - math.exp(-0.7)),
                   math.log1p(-math.exp(-50.0)))  # fmt: skip
    torch.testing.assert_close(log1mexp(x), expected, rtol=1e-12, atol=1e-15)
    assert torch.isfinite(log1mexp(torch.tensor([-1e-7]))).all()  # naive log(1 - exp(x)) in fp32 gives -inf


def test_orpo_rejects_positive_logps():
    with pytest.raises(ValueError, match="<= 0"):
        orpo_loss(T64(0.1), T64(-1.0))
