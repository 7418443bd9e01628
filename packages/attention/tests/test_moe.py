"""MoE: top-k routing with renormalised weights (checked token by token) and the load-balancing loss
E * sum_e f_e P_e on hand-made routers."""

import pytest
import torch
import torch.nn.functional as F

from litlab.attention import MoE


def _expert(moe, e, x):
    return (F.silu(x @ moe.w_gate[e]) * (x @ moe.w_up[e])) @ moe.w_down[e]


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_moe_output_is_top_k_mixture(top_k):
    torch.manual_seed(0)
    moe = MoE(8, 12, num_experts=5, top_k=top_k).double()
    x = torch.randn(2, 7, 8, dtype=torch.float64)
    y = moe(x)
    flat = x.reshape(-1, 8)
    probs = torch.softmax(moe.router(flat), -1)
    for n in range(flat.shape[0]):
        top = probs[n].argsort(descending=True)[:top_k]
        w = probs[n, top] / probs[n, top].sum()
        want = sum(w[i] * _expert(moe, int(e), flat[n]) for i, e in enumerate(top))
        assert torch.allclose(y.reshape(-1, 8)[n], want, atol=1e-12)
    assert moe.expert_load.sum().item() == pytest.approx(1.0)


def test_moe_aux_loss_by_hand():
    moe = MoE(2, 4, num_experts=2, top_k=1).double()
    with torch.no_grad():
        moe.router.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    # token 0 -> logits (2, 0), token 1 -> (1, 0), token 2 -> (0, 3): experts 0, 0, 1
    x = torch.tensor([[2.0, 0.0], [1.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    moe(x)
    p = torch.tensor([[2.0, 0.0], [1.0, 0.0], [0.0, 3.0]], dtype=torch.float64).softmax(-1)
    f = torch.tensor([2 / 3, 1 / 3], dtype=torch.float64)
    want = 2 * (f * p.mean(0)).sum()
    assert moe.aux_loss.item() == pytest.approx(want.item(), rel=1e-12)
    assert torch.allclose(moe.expert_load, f)


def test_moe_uniform_router_aux_loss_is_one_and_aux_has_router_gradient():
    moe = MoE(6, 8, num_experts=4, top_k=2)
    torch.nn.init.zeros_(moe.router.weight)
    moe(torch.randn(10, 6))
    assert moe.aux_loss.item() == pytest.approx(1.0, rel=1e-6)
    torch.manual_seed(1)
    moe = MoE(6, 8, num_experts=4, top_k=2)
    moe(torch.randn(10, 6)).sum().mul(0).add(moe.aux_loss).backward()
    assert moe.router.weight.grad.abs().sum() > 0


def test_moe_bad_arguments():
    with pytest.raises(ValueError, match="top_k"):
        MoE(4, 4, num_experts=2, top_k=3)
    with pytest.raises(ValueError, match="num_experts"):
        MoE(4, 4, num_experts=0)
