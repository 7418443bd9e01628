"""grpo_advantages and grpo_loss against values worked out by hand (and a per-token loop in float64)."""

import math

import pytest
import torch

from litlab.alignment.losses import grpo_advantages, grpo_loss

S3 = math.sqrt(1 / 3)  # unbiased std of [1, 0, 0, 1]


def flat(x):
    return torch.as_tensor(x, dtype=torch.float64).flatten().tolist()


def test_group_advantages_use_the_unbiased_std_and_an_all_equal_group_gets_zero():
    r = torch.tensor([[1.0, 0.0, 0.0, 1.0], [2.0, 2.0, 2.0, 2.0]])
    a = grpo_advantages(r)
    half = 0.5 / (S3 + 1e-4)
    assert flat(a) == pytest.approx(flat([[half, -half, -half, half], [0.0] * 4]), rel=1e-6)


def test_batch_and_none_scaling():
    r = torch.tensor([[1.0, 0.0, 0.0, 1.0], [2.0, 2.0, 2.0, 2.0]], dtype=torch.float64)
    # batch std of [1,0,0,1,2,2,2,2]: mean 1.25, squared deviations sum 5.5, / 7
    std = math.sqrt(5.5 / 7)
    half = 0.5 / (std + 1e-4)
    assert flat(grpo_advantages(r, "batch")) == pytest.approx(flat([[half, -half, -half, half], [0.0] * 4]))
    assert flat(grpo_advantages(r, "none")) == pytest.approx(flat([[0.5, -0.5, -0.5, 0.5], [0.0] * 4]))


def test_nan_rewards_leave_the_group_statistics():
    r = torch.tensor([[1.0, float("nan"), 0.0], [float("nan"), 3.0, float("nan")]])
    a = grpo_advantages(r)
    x = 0.5 / (math.sqrt(0.5) + 1e-4)  # valid [1, 0]: mean 0.5, unbiased std sqrt(0.5)
    assert flat(a) == pytest.approx(flat([[x, 0.0, -x], [0.0, 0.0, 0.0]]), rel=1e-6)


def test_advantage_inputs_are_checked():
    with pytest.raises(ValueError, match="G >= 2"):
        grpo_advantages(torch.zeros(3, 1))
    with pytest.raises(ValueError, match="scale_rewards"):
        grpo_advantages(torch.zeros(3, 2), "row")


# Hand example: ratios rho [[1, 1.5, 0.5], [0.7, 1.1, 2.0]], mask [[1,1,0],[1,1,1]], A = [1, -2], eps 0.2.
# Row 0 (A = 1):  -min(1, 1) = -1;  -min(1.5, 1.2) = -1.2 (high clip);  masked.
# Row 1 (A = -2): -min(-1.4, -1.6) = 1.6 (low clip);  -min(-2.2, -2.2) = 2.2;  -min(-4, -2.4) = 4.
RHO = [[1.0, 1.5, 0.5], [0.7, 1.1, 2.0]]
MASK = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
ADV = torch.tensor([1.0, -2.0], dtype=torch.float64)


def hand_inputs():
    old = torch.tensor([[-1.0, -2.0, -0.5], [-3.0, -0.1, -1.5]], dtype=torch.float64)
    logp = (old + torch.tensor(RHO, dtype=torch.float64).log()).requires_grad_()
    return logp, old


@pytest.mark.parametrize(
    "loss_type, kwargs, expected",
    [
        ("grpo", {}, ((-1 - 1.2) / 2 + (1.6 + 2.2 + 4) / 3) / 2),
        ("bnpo", {}, (-2.2 + 7.8) / 5),
        ("dr_grpo", {"max_completion_length": 4}, 5.6 / (2 * 4)),
        ("dapo", {"num_items": 10}, 5.6 / 10),
        ("dapo", {}, 5.6 / 5),
    ],
)
def test_each_reduction_matches_the_hand_values(loss_type, kwargs, expected):
    logp, old = hand_inputs()
    loss, info = grpo_loss(logp, old, None, ADV, MASK, loss_type=loss_type, **kwargs)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-12)
    assert float(info["clip_ratio/high_mean"]) == pytest.approx(1 / 5)
    assert float(info["clip_ratio/low_mean"]) == pytest.approx(1 / 5)
    assert float(info["clip_ratio/region_mean"]) == pytest.approx(2 / 5)


def test_grpo_gradient_is_zero_on_clipped_and_masked_tokens():
    logp, old = hand_inputs()
    loss, _ = grpo_loss(logp, old, None, ADV, MASK, loss_type="grpo")
    loss.backward()
    # d(-rho A)/dl = -rho A; row weights 1/(2 * |row|)
    expected = [[-1.0 / 4, 0.0, 0.0], [0.0, 2 * 1.1 / 6, 2 * 2.0 / 6]]
    assert flat(logp.grad) == pytest.approx(flat(expected), rel=1e-12)


def test_epsilon_high_and_delta():
    logp, old = hand_inputs()
    # eps_high 0.6: row 0 token 1 becomes -1.5; row 1 token 2 is not clipped from above for A < 0 anyway
    loss, info = grpo_loss(logp, old, None, ADV, MASK, loss_type="grpo", epsilon_high=0.6)
    assert float(loss.detach()) == pytest.approx(((-1 - 1.5) / 2 + 7.8 / 3) / 2)
    assert float(info["clip_ratio/high_mean"]) == 0.0
    # delta 1.5 caps rho in the unclipped term: row 1 token 2 -> -min(-3, -2.4) = 3
    loss, _ = grpo_loss(logp, old, None, ADV, MASK, loss_type="grpo", delta=1.5)
    assert float(loss.detach()) == pytest.approx((-1.1 + 6.8 / 3) / 2)


def test_k3_kl_term():
    logp, old = hand_inputs()
    ref = logp.detach() + math.log(2.0)  # k3 = 2 - ln 2 - 1 on every token
    loss, info = grpo_loss(logp, old, ref, ADV, MASK, loss_type="bnpo", beta=0.1)
    assert float(info["kl"]) == pytest.approx(1 - math.log(2))
    assert float(loss.detach()) == pytest.approx(1.12 + 0.1 * (1 - math.log(2)))
    with pytest.raises(ValueError, match="ref_per_token_logps"):
        grpo_loss(logp, old, None, ADV, MASK, beta=0.1)


def test_one_iteration_has_ratio_one_and_the_policy_gradient():
    logp = torch.tensor([[-1.0, -2.0], [-0.5, -0.3]], dtype=torch.float64, requires_grad=True)
    adv = torch.tensor([0.5, -1.5], dtype=torch.float64)
    loss, info = grpo_loss(logp, None, None, adv, torch.ones(2, 2, dtype=torch.bool), loss_type="bnpo")
    loss.backward()
    assert float(loss.detach()) == pytest.approx(-(0.5 * 2 - 1.5 * 2) / 4)
    assert flat(logp.grad) == pytest.approx([-0.5 / 4] * 2 + [1.5 / 4] * 2)
    assert float(info["ratio_mean"]) == 1.0


def test_all_equal_group_and_fully_truncated_group_contribute_nothing():
    logp = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    adv = grpo_advantages(torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)).flatten()
    mask = torch.ones(4, 5, dtype=torch.bool)
    mask[2:] = False  # the second group: every completion truncated and masked
    for loss_type in ("grpo", "bnpo", "dr_grpo", "dapo"):
        loss, _ = grpo_loss(logp, None, None, adv, mask, loss_type=loss_type, max_completion_length=5)
        (grad,) = torch.autograd.grad(loss, logp)
        assert float(loss.detach()) == 0.0 and bool((grad == 0).all()), loss_type
    mask[:] = False  # nothing active at all: loss 0, finite
    loss, info = grpo_loss(logp, None, None, torch.ones(4, dtype=torch.float64), mask, loss_type="dapo")
    assert float(loss.detach()) == 0.0 and float(info["clip_ratio/region_mean"]) == 0.0


def test_single_active_token():
    logp, old = hand_inputs()
    mask = torch.zeros(2, 3, dtype=torch.bool)
    mask[1, 2] = True  # the token with loss 4
    assert float(grpo_loss(logp, old, None, ADV, mask, loss_type="bnpo")[0].detach()) == pytest.approx(4.0)
    assert float(grpo_loss(logp, old, None, ADV, mask, loss_type="grpo")[0].detach()) == pytest.approx(4.0 / 2)
    assert float(grpo_loss(logp, old, None, ADV, mask, loss_type="dr_grpo", max_completion_length=3)[0].detach()) == (
        pytest.approx(4.0 / 6)
    )


def naive_loss(logp, old, ref, adv, mask, beta, eps, eps_high):
    """Per-token float64 loop of the bnpo form."""
    total, count = 0.0, 0
    for i in range(len(logp)):
        for t in range(len(logp[i])):
            if not mask[i][t]:
                continue
            rho = math.exp(logp[i][t] - old[i][t])
            term = -min(rho * adv[i], min(max(rho, 1 - eps), 1 + eps_high) * adv[i])
            d = ref[i][t] - logp[i][t]
            total += term + beta * (math.exp(d) - d - 1)
            count += 1
    return total / count


def test_random_inputs_match_a_per_token_loop():
    g = torch.Generator().manual_seed(0)
    logp = -torch.rand(5, 7, generator=g, dtype=torch.float64) * 3
    old = logp + 0.3 * torch.randn(5, 7, generator=g, dtype=torch.float64)
    ref = logp + 0.5 * torch.randn(5, 7, generator=g, dtype=torch.float64)
    adv = torch.randn(5, generator=g, dtype=torch.float64)
    mask = torch.rand(5, 7, generator=g) > 0.3
    loss, _ = grpo_loss(logp, old, ref, adv, mask, beta=0.05, epsilon=0.2, epsilon_high=0.28, loss_type="bnpo")
    want = naive_loss(logp.tolist(), old.tolist(), ref.tolist(), adv.tolist(), mask.tolist(), 0.05, 0.2, 0.28)
    assert float(loss.detach()) == pytest.approx(want, rel=1e-12)


def test_bad_inputs_name_the_argument():
    logp = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="advantages must be"):
        grpo_loss(logp, None, None, torch.zeros(3), MASK)
    with pytest.raises(ValueError, match="old_per_token_logps"):
        grpo_loss(logp, torch.zeros(2, 4), None, torch.zeros(2), MASK)
    with pytest.raises(ValueError, match="max_completion_length"):
        grpo_loss(logp, None, None, torch.zeros(2), MASK, loss_type="dr_grpo")
    with pytest.raises(ValueError, match="loss_type"):
        grpo_loss(logp, None, None, torch.zeros(2), MASK, loss_type="ppo")
