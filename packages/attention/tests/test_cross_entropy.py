"""The fused chunked head + cross-entropy (`linear_cross_entropy`) against plain `F.cross_entropy` on the
full logits: values and gradients in float64 for every chunking, a hand-computed case, bf16 autocast, the
`LanguageModel` training loss against its logits path, and bad inputs."""

import math

import pytest
import torch
import torch.nn.functional as F

from litlab.attention import BackboneConfig, LanguageModel
from litlab.attention.lm.cross_entropy import chunk_loss_and_grad, chunk_loss_and_grad_inplace, linear_cross_entropy


def test_two_class_case_by_hand():
    h = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64, requires_grad=True)
    w = torch.eye(2, dtype=torch.float64, requires_grad=True)  # logits = h
    loss = linear_cross_entropy(h, w, torch.tensor([0, 0]), chunk_size=1)
    # row 0: log(1 + e^-1); row 1: log(1 + e^2); mean of the two
    expected = 0.5 * (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(2)))
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    loss.backward()
    p0, p1 = 1 / (1 + math.exp(-1)), 1 / (1 + math.exp(2))  # softmax probability of class 0 per row
    want = torch.tensor([[p0 - 1, 1 - p0], [p1 - 1, 1 - p1]], dtype=torch.float64) / 2  # dL/dlogits
    assert torch.allclose(h.grad, want, atol=1e-12)  # W = I: dL/dh = dL/dz
    assert torch.allclose(w.grad, want.T @ h.detach(), atol=1e-12)


@pytest.mark.parametrize("chunk", [1, 7, 37, 100])
def test_matches_full_cross_entropy_in_float64(chunk):
    torch.manual_seed(0)
    h = torch.randn(37, 16, dtype=torch.float64, requires_grad=True)
    w = torch.randn(50, 16, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 50, (37,))
    ref = F.cross_entropy(h @ w.T, y)
    gh, gw = torch.autograd.grad(3.0 * ref, (h, w))
    out = linear_cross_entropy(h, w, y, chunk_size=chunk)
    dh, dw = torch.autograd.grad(3.0 * out, (h, w))  # an upstream gradient != 1 scales both
    assert abs(out.item() - ref.item()) < 1e-12
    assert (dh - gh).norm() / gh.norm() < 1e-12 and (dw - gw).norm() / gw.norm() < 1e-12


@pytest.mark.parametrize("fn", [chunk_loss_and_grad, chunk_loss_and_grad_inplace])
def test_chunk_gradient_is_softmax_minus_onehot(fn):
    torch.manual_seed(1)
    z = torch.randn(5, 9, dtype=torch.float64)
    y = torch.tensor([0, 8, 3, 3, 1])
    loss, grad = fn(z.clone(), y, 0.25)
    assert loss.item() == pytest.approx(F.cross_entropy(z, y, reduction="sum").item(), rel=1e-12)
    assert torch.allclose(grad, 0.25 * (z.softmax(-1) - F.one_hot(y, 9)), atol=1e-15)


def test_bf16_autocast_matches_the_plain_head():
    torch.manual_seed(2)
    h = torch.randn(64, 32, requires_grad=True)
    w = (0.2 * torch.randn(300, 32)).requires_grad_()
    y = torch.randint(0, 300, (64,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref = F.cross_entropy(F.linear(h, w).float(), y)
        out = linear_cross_entropy(h, w, y, chunk_size=24)
    gh, gw = torch.autograd.grad(ref, (h, w))
    dh, dw = torch.autograd.grad(out, (h, w))
    assert out.dtype == torch.float32 and dh.dtype == h.dtype and dw.dtype == w.dtype
    assert abs(out.item() - ref.item()) < 1e-3 * ref.item()
    assert (dh - gh).norm() / gh.norm() < 1e-2 and (dw - gw).norm() / gw.norm() < 1e-2


def test_language_model_training_loss_equals_its_logits_path():
    torch.manual_seed(3)
    lm = LanguageModel(BackboneConfig(dim=32, num_layers=2, num_heads=2, head_dim=16, pattern="LS"), vocab_size=70)
    batch = torch.randint(0, 70, (3, 21))
    fused, _, logits, _ = lm.loss(batch)
    grads = torch.autograd.grad(fused, list(lm.parameters()))
    plain, _, full_logits, targets = lm.loss(batch, with_logits=True)
    ref = torch.autograd.grad(plain, list(lm.parameters()))
    assert logits is None and full_logits.shape == (3, 20, 70) and targets.shape == (3, 20)
    assert abs(fused.item() - plain.item()) < 1e-5
    for g, r in zip(grads, ref, strict=True):
        assert (g - r).norm() <= 1e-4 * r.norm() + 1e-8


def test_bad_inputs_are_rejected():
    h, w, y = torch.randn(4, 8), torch.randn(10, 8), torch.randint(0, 10, (4,))
    with pytest.raises(ValueError, match="hidden"):
        linear_cross_entropy(h, torch.randn(10, 7), y)
    with pytest.raises(ValueError, match="targets"):
        linear_cross_entropy(h, w, y.float())
    with pytest.raises(ValueError, match="targets"):
        linear_cross_entropy(h, w, y[:3])
    with pytest.raises(ValueError, match="chunk_size"):
        linear_cross_entropy(h, w, y, chunk_size=0)
    with pytest.raises(ValueError, match=r"\[0, 10\).*got values in \[0, 10\]"):
        linear_cross_entropy(h, w, torch.tensor([0, 3, 10, 2]))
    with pytest.raises(ValueError, match=r"no ignore index, got values in \[-100, 3\]"):
        linear_cross_entropy(h, w, torch.tensor([1, -100, 3, 2]))
    with pytest.raises(ValueError, match="dtype"):  # no autocast: F.linear would refuse too, less clearly
        linear_cross_entropy(h, w.double(), y)
    with pytest.raises(ValueError, match="ce_chunk_size"):
        LanguageModel(BackboneConfig(dim=8, num_layers=1, num_heads=1, head_dim=8), vocab_size=5, ce_chunk_size=0)
