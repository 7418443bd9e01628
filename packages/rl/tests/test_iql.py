"""IQL loss pieces on hand-made tensors."""

import math

import pytest
import torch

from litlab.rl.fql.iql import awr_loss, expectile_loss


def test_expectile_loss_weights_by_sign():
    diff = torch.tensor([2.0, -2.0])
    # 0.7 * 4 and 0.3 * 4, averaged
    assert expectile_loss(diff, 0.7).item() == pytest.approx((2.8 + 1.2) / 2)


def test_awr_loss_clips_weight_and_detaches_advantage():
    log_prob = torch.tensor([-1.0, -2.0], requires_grad=True)
    adv = torch.tensor([0.0, 10.0], requires_grad=True)  # exp(3 * 10) is clipped to 100
    loss, _ = awr_loss(log_prob, adv, beta=3.0)
    assert loss.item() == pytest.approx(-(1.0 * -1.0 + 100.0 * -2.0) / 2)
    loss.backward()
    assert adv.grad is None
    assert torch.allclose(log_prob.grad, torch.tensor([-0.5, -50.0]))
    assert math.isfinite(loss.item())
