"""FQL losses on hand-made tensors, with expectations worked out by hand."""

import math

import pytest
import torch

from litlab.rl.fql import losses


def test_td_target_mean_and_min():
    r = torch.tensor([1.0, 0.0, 2.0])
    mask = torch.tensor([1.0, 0.0, 1.0])
    next_q = torch.tensor([[2.0, 5.0, -1.0], [4.0, 7.0, 3.0]])  # (K=2, B=3): K != B, so an axis mix-up fails
    # mean over critics: (3, 6, 1) -> 1 + 0.5 * 3 = 2.5 ; second sample is terminal: 0 ; 2 + 0.5 * 1 = 2.5
    assert torch.allclose(losses.td_target(r, mask, next_q, 0.5, "mean"), torch.tensor([2.5, 0.0, 2.5]))
    # min over critics: (2, 5, -1) -> 1 + 0.5 * 2 = 2 ; 0 ; 2 - 0.5 = 1.5
    assert torch.allclose(losses.td_target(r, mask, next_q, 0.5, "min"), torch.tensor([2.0, 0.0, 1.5]))
    with pytest.raises(ValueError, match="q_agg"):
        losses.td_target(r, mask, next_q, 0.5, "max")
    with pytest.raises(ValueError, match="next_q"):
        losses.td_target(r, mask, next_q[:, :1], 0.5)


def test_critic_loss_value_and_target_is_constant():
    q = torch.tensor([[1.0, 2.0], [3.0, 0.0]], requires_grad=True)
    y = torch.tensor([1.0, 1.0], requires_grad=True)
    loss, info = losses.critic_loss(q, y)
    assert loss.item() == pytest.approx((0 + 1 + 4 + 1) / 4)
    loss.backward()
    assert y.grad is None
    # d/dq mean((q - y)^2) = 2 (q - y) / 4
    assert torch.allclose(q.grad, torch.tensor([[0.0, 0.5], [1.0, -0.5]]))
    assert info["q_max"].item() == 3.0 and info["q_min"].item() == 0.0


def test_flow_bc_loss_velocity_target():
    x0 = torch.tensor([[0.0, 1.0]])
    a = torch.tensor([[1.0, -1.0]])  # velocity a - x0 = (1, -2)
    v = torch.tensor([[1.0, 0.0]])
    loss, _ = losses.flow_bc_loss(v, x0, a)
    assert loss.item() == pytest.approx((0.0 + 4.0) / 2)
    with pytest.raises(ValueError, match="share a shape"):
        losses.flow_bc_loss(v, x0, a[:, :1])


def test_distillation_loss_mean_over_dims_and_target_detached():
    mu = torch.tensor([[0.5, 0.0, 1.0]], requires_grad=True)
    target = torch.tensor([[0.0, 0.0, -1.0]], requires_grad=True)
    loss, _ = losses.distillation_loss(mu, target)
    assert loss.item() == pytest.approx((0.25 + 0 + 4) / 3)
    loss.backward()
    assert target.grad is None and mu.grad is not None


def test_policy_q_loss_ensemble_mean_and_normalization():
    q = torch.tensor([[1.0, -3.0], [3.0, -5.0]], requires_grad=True)  # ensemble mean per sample: 2, -4
    loss, _ = losses.policy_q_loss(q)
    assert loss.item() == pytest.approx(1.0)  # -(2 - 4) / 2
    loss_n, _ = losses.policy_q_loss(q, normalize=True)
    assert loss_n.item() == pytest.approx(1.0 / 3.0)  # lambda = 1 / mean(|2|, |-4|) = 1/3
    loss_n.backward()
    # lambda is a constant: d/dq = -lambda / (K * B) everywhere
    assert torch.allclose(q.grad, torch.full_like(q, -1.0 / 3.0 / 4.0))


def test_euler_integration_of_known_fields():
    x0 = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    for n in (1, 3, 10):
        # dx/dt = -x: Euler gives x0 (1 - 1/n)^n
        out = losses.euler_integrate(lambda x, t: -x, x0, n)
        assert torch.allclose(out, x0 * (1 - 1 / n) ** n)
        # dx/dt = t: Euler sums t_i / n for t_i = i / n, i < n: (n - 1) / (2 n)
        out = losses.euler_integrate(lambda x, t: t.expand_as(x), x0, n)
        assert torch.allclose(out, x0 + (n - 1) / (2 * n))
    # many steps converge to the exact flow x0 e^{-1}
    out = losses.euler_integrate(lambda x, t: -x, x0, 2000)
    assert torch.allclose(out, x0 * math.exp(-1), atol=1e-3)
    with pytest.raises(ValueError, match="num_steps"):
        losses.euler_integrate(lambda x, t: x, x0, 0)
