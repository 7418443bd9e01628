"""Objectives: SMPO's full loss by hand, SFT terms on raw log-probs, DPO/SimPO/ORPO reductions, the margin
schedule, and the chunked path equal to the naive one on the full loss (values and gradients)."""

import math

import pytest
import torch

from litlab.alignment.logprobs import chunked_token_logps, naive_token_logps
from litlab.alignment.losses import DPO, ORPO, SMPO, SimPO, dpo_loss, orpo_loss, pair_rows, simpo_loss, smpo_loss

# rows: chosen (pair 1), rejected (pair 0), chosen (pair 0), rejected (pair 1): order must not matter
LP = torch.tensor([[0.0, -0.2, -0.4], [0.0, -3.0, -1.0], [-0.5, -0.1, 0.0], [0.0, -2.0, -0.6]], dtype=torch.float64)
COMP = torch.tensor([[0, 1, 1], [0, 1, 1], [1, 1, 0], [0, 1, 1]], dtype=torch.bool)
EOS = torch.tensor([[0, 0, 1], [0, 0, 1], [0, 1, 0], [0, 0, 1]], dtype=torch.bool)
BATCH = dict(completion_mask=COMP, eos_mask=EOS, is_rejected=torch.tensor([False, True, False, True]),
             pair_index=torch.tensor([1, 0, 0, 1]))  # fmt: skip
# means: chosen pair0 = -0.3, pair1 = -0.3; rejected pair0 = -2.0, pair1 = -1.3
# NLL+ = (0.2 + 0.4 + 0.5 + 0.1) / 4 = 0.3; NLL- = (3 + 1 + 2 + 0.6) / 4 = 1.65


def test_smpo_original_by_hand():
    obj = SMPO(beta=2.0, margin=2.0, chosen_sft_ratio=0.75, eos_rejected_coef=1.0, lower_clip_percentile=None,
               min_log_prob=None)  # fmt: skip
    loss, info = obj(LP, BATCH)
    # u = (s+ - s-) - 2: pair0 1.7 - 2 = -0.3 -> (0.6)^2; pair1 1.0 - 2 = -1 -> 4
    expected = (0.36 + 4.0) / 2 + 0.75 * 0.3 + 0.25 * 1.65
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    assert info["nll_chosen"].item() == pytest.approx(0.3) and info["nll_rejected"].item() == pytest.approx(1.65)
    assert info["reward_accuracy"].item() == 1.0
    assert info["eos_logp_rejected"].item() == pytest.approx(-0.8) and info["eos_logp_rejected_min"].item() == -1.0


def test_smpo_modified_sft_terms_use_raw_logps():
    obj = SMPO(beta=2.0, margin=2.0, chosen_sft_ratio=0.75, eos_rejected_coef=-1.0, lower_clip_percentile=None,
               min_log_prob=-1.5)  # fmt: skip
    loss, info = obj(LP, BATCH)
    # transformed rejected: pair0 [-1.5, +1.0] -> -0.25; pair1 [-1.5, +0.6] -> -0.45
    # u: pair0 -0.3 + 0.25 - 2 = -2.05 -> 4.1^2; pair1 -0.3 + 0.45 - 2 = -1.85 -> 3.7^2
    expected = (4.1**2 + 3.7**2) / 2 + 0.75 * 0.3 + 0.25 * 1.65
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    assert info["frac_floored"].item() == pytest.approx(2 / 4)
    assert info["logps_rejected"].item() == pytest.approx((-2.0 - 1.3) / 2)  # raw, for logging


def test_smpo_sft_weight_scales_only_the_sft_term():
    kw = dict(beta=2.0, margin=2.0, chosen_sft_ratio=0.75, eos_rejected_coef=1.0, lower_clip_percentile=None,
              min_log_prob=None)  # fmt: skip
    loss0, _ = SMPO(sft_weight=0.0, **kw)(LP, BATCH)
    loss_half, _ = SMPO(sft_weight=0.5, **kw)(LP, BATCH)
    assert loss0.item() == pytest.approx((0.36 + 4.0) / 2, abs=1e-12)
    assert loss_half.item() == pytest.approx((0.36 + 4.0) / 2 + 0.5 * (0.75 * 0.3 + 0.25 * 1.65), abs=1e-12)
    with pytest.raises(ValueError, match="sft_weight"):
        SMPO(sft_weight=-1.0)


def test_modified_as_published_equals_original_math_with_new_hinge():
    published = SMPO(loss_type="hinge", eos_rejected_coef=1.0, lower_clip_percentile=None, min_log_prob=None)
    loss, _ = published(LP, BATCH)
    u = torch.tensor([1.7 - 0.35, 1.0 - 0.35], dtype=torch.float64)
    assert loss.item() == pytest.approx(torch.relu(-1.2 * u).mean().item() + 0.8 * 0.3 + 0.2 * 1.65)


def test_margin_schedule():
    obj = SMPO(margin=0.5, margin_schedule=True, margin_start=0.1)
    assert [obj.current_margin(p) for p in (0.0, 0.5, 1.0, 2.0)] == pytest.approx([0.1, 0.3, 0.5, 0.5])
    assert SMPO(margin=0.5).current_margin(0.0) == 0.5


def test_scheduled_margin_reaches_the_loss():
    obj = SMPO(beta=2.0, margin=3.0, margin_schedule=True, margin_start=1.0, eos_rejected_coef=1.0,
               lower_clip_percentile=None, min_log_prob=None, sft_weight=0.0)  # fmt: skip
    loss, info = obj(LP, BATCH, progress=0.5)  # m = 2: the numbers of test_smpo_original_by_hand
    assert loss.item() == pytest.approx((0.36 + 4.0) / 2, abs=1e-12) and info["margin_target"].item() == 2.0
    loss, _ = obj(LP, BATCH, progress=1.0)  # m = 3: u = (-1.3, -2) -> (2.6^2 + 4^2) / 2
    assert loss.item() == pytest.approx((2.6**2 + 16.0) / 2, abs=1e-12)


def test_dpo_uses_each_rows_reference():
    ref = torch.zeros_like(LP)
    ref[0, 0] = 9.0  # off the completion: must not count
    ref[0, 1], ref[1, 1], ref[2, 0], ref[3, 2] = -0.1, -0.5, -0.2, -1.0  # chosen 1, rejected 0, chosen 0, rejected 1
    sp = lambda x: math.log1p(math.exp(x))
    # Delta = (pi+ - ref+) - (pi- - ref-): pair0 (-0.6 + 0.2) - (-4.0 + 0.5) = 3.1, pair1 (-0.5) - (-1.6) = 1.1
    loss, _ = DPO(beta=0.5)(LP, BATCH, ref)
    assert loss.item() == pytest.approx((sp(-0.5 * 3.1) + sp(-0.5 * 1.1)) / 2, abs=1e-12)
    # ipo on means: pair0 (-0.3 + 0.1) - (-2.0 + 0.25) = 1.55, pair1 (-0.3 + 0.05) - (-1.3 + 0.5) = 0.55
    loss, _ = DPO(beta=0.5, loss_type="ipo")(LP, BATCH, ref)
    assert loss.item() == pytest.approx((0.55**2 + 0.45**2) / 2, abs=1e-12)


def test_dpo_simpo_orpo_reductions():
    ref = torch.zeros_like(LP)
    loss, info = DPO(beta=0.5)(LP, BATCH, ref)  # sums: chosen -0.6 / -0.6, rejected -4.0 / -2.6
    sp = lambda x: math.log1p(math.exp(x))
    assert loss.item() == pytest.approx((sp(-0.5 * 3.4) + sp(-0.5 * 2.0)) / 2)
    with pytest.raises(ValueError, match="reference"):
        DPO()(LP, BATCH)
    loss, _ = DPO(beta=0.5, loss_type="ipo")(LP, BATCH, ref)  # means: deltas 1.7, 1.0; 1/(2 beta) = 1
    assert loss.item() == pytest.approx((0.7**2 + 0.0**2) / 2)
    loss, _ = SimPO(beta=2.0, gamma=0.5, nll_chosen_weight=1.0)(LP, BATCH)
    assert loss.item() == pytest.approx((sp(-(3.4 - 0.5)) + sp(-(2.0 - 0.5))) / 2 + 0.3)
    lo = lambda s: s - math.log(1 - math.exp(s))
    loss, _ = ORPO(beta=0.1)(LP, BATCH)
    terms = [0.1 * sp(-(lo(-0.3) - lo(-2.0))), 0.1 * sp(-(lo(-0.3) - lo(-1.3)))]
    assert loss.item() == pytest.approx(0.3 + sum(terms) / 2)


def test_objectives_pass_every_setting_to_their_loss():
    """Non-default settings, checked against the pure losses (tested by hand) on the pairs' scores: a setting
    the objective accepts but drops (or replaces by its default) changes the value."""
    t = lambda *v: torch.tensor(v, dtype=torch.float64)
    mean_c, mean_r, sum_c, sum_r, zero = t(-0.3, -0.3), t(-2.0, -1.3), t(-0.6, -0.6), t(-4.0, -2.6), t(0.0, 0.0)
    sft = 0.6 * 0.3 + 0.4 * 1.65
    smpo = SMPO(beta=3.0, margin=1.2, loss_type="smooth_double_bound", delta=0.05, chosen_sft_ratio=0.6,
                eos_rejected_coef=1.0, lower_clip_percentile=None, min_log_prob=None)  # fmt: skip
    cases = [  # u = (0.5, -0.2): the upper band (delta) acts on pair 0, the lower bound on pair 1
        (smpo, smpo_loss(mean_c, mean_r, beta=3.0, margin=1.2, loss_type="smooth_double_bound", delta=0.05), sft),
        (SMPO(beta=3.0, margin=1.2, loss_type="sigmoid", chosen_sft_ratio=0.6, eos_rejected_coef=1.0,
              lower_clip_percentile=None, min_log_prob=None),
         smpo_loss(mean_c, mean_r, beta=3.0, margin=1.2, loss_type="sigmoid"), sft),
        (SimPO(beta=1.5, gamma=0.3, label_smoothing=0.2),
         simpo_loss(mean_c, mean_r, beta=1.5, gamma=0.3, label_smoothing=0.2)[0], 0.0),
        (DPO(beta=0.3, loss_type="robust", label_smoothing=0.1, nll_chosen_weight=0.5),
         dpo_loss(sum_c, sum_r, zero, zero, beta=0.3, loss_type="robust", label_smoothing=0.1)[0], 0.5 * 0.3),
        (DPO(beta=0.3, label_smoothing=0.1), dpo_loss(sum_c, sum_r, zero, zero, beta=0.3, label_smoothing=0.1)[0], 0),
        (ORPO(beta=0.4), orpo_loss(mean_c, mean_r, beta=0.4), 0.3),
    ]  # fmt: skip
    assert cases[0][1][0] > 0 and cases[0][1][1] > 0  # both bounds of the double bound act
    for objective, pair_losses, extra in cases:
        loss, _ = objective(LP, BATCH, torch.zeros_like(LP))
        assert loss.item() == pytest.approx(pair_losses.mean().item() + extra, abs=1e-12), objective


def test_pair_rows_errors():
    with pytest.raises(ValueError, match="exactly one chosen and one rejected"):
        pair_rows(torch.tensor([False, False, True]), torch.tensor([0, 1, 0]))
    c, r = pair_rows(BATCH["is_rejected"], BATCH["pair_index"])
    assert c.tolist() == [2, 0] and r.tolist() == [1, 3]


@pytest.mark.parametrize("objective", [SMPO(), SMPO(upper_clip_percentile=0.9), SimPO(nll_chosen_weight=1.0), ORPO()])
def test_chunked_path_equals_naive_on_the_full_loss(objective):
    g = torch.Generator().manual_seed(0)
    h = torch.randn(4, 6, 8, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(19, 8, generator=g, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 19, (4, 6), generator=g)
    targets[:, :2] = -100
    targets[1, -1] = -100
    rejected, pairs = torch.tensor([False, False, True, True]), torch.tensor([0, 1, 0, 1])
    eos = torch.zeros(4, 6, dtype=torch.bool)
    batch = dict(completion_mask=targets != -100, eos_mask=eos, is_rejected=rejected, pair_index=pairs)
    batch["eos_mask"][:, 4] = True
    results = []
    for fn in (lambda: chunked_token_logps(h, w, targets, token_chunk=5, vocab_chunk=7),
               lambda: naive_token_logps(h, w, targets)):  # fmt: skip
        loss, _ = objective(fn(), batch)
        results.append((loss.detach(), *torch.autograd.grad(loss, (h, w))))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
