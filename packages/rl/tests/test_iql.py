"""IQL loss pieces on hand-made tensors."""

import math

import pytest
import torch

from litlab.rl.fql.iql import awr_loss, expectile_loss


def test_expectile_loss_weights_by_sign():
    diff = torch.tensor([2.0, -1.0])  # asymmetric: swapping the two weights changes the value
    # positive diff (target above v) weighs tau = 0.9: (0.9 * 4 + 0.1 * 1) / 2 (swapped: 0.65)
    assert expectile_loss(diff, 0.9).item() == pytest.approx((3.6 + 0.1) / 2)


def test_expectile_loss_is_minimised_at_the_upper_expectile():
    # targets {0, 1}, tau 0.9: the minimiser v solves 0.9 (1 - v) = 0.1 v, v = 0.9 (above the mean, as IQL needs)
    targets = torch.tensor([0.0, 1.0], dtype=torch.float64)
    for tau, v_star in ((0.9, 0.9), (0.5, 0.5), (0.2, 0.2)):
        v = torch.tensor(v_star, dtype=torch.float64, requires_grad=True)
        expectile_loss(targets - v, tau).backward()
        assert v.grad.item() == pytest.approx(0.0, abs=1e-6)  # the weights are fp32 scalars
        off = torch.tensor(v_star + 0.05, dtype=torch.float64, requires_grad=True)
        expectile_loss(targets - off, tau).backward()
        assert off.grad.item() > 0  # above the minimiser the loss grows


def test_awr_loss_clips_weight_and_detaches_advantage():
    log_prob = torch.tensor([-1.0, -2.0], requires_grad=True)
    adv = torch.tensor([0.0, 10.0], requires_grad=True)  # exp(3 * 10) is clipped to 100
    loss, _ = awr_loss(log_prob, adv, beta=3.0)
    assert loss.item() == pytest.approx(-(1.0 * -1.0 + 100.0 * -2.0) / 2)
    loss.backward()
    assert adv.grad is None
    assert torch.allclose(log_prob.grad, torch.tensor([-0.5, -50.0]))
    assert math.isfinite(loss.item())
