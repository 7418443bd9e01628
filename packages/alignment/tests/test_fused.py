"""The fused head + loss path equals objective(log_softmax(H W^T).gather) in float64, value and gradients."""

import pytest
import torch

from litlab.alignment.logprobs import HeadTransform, fused, fused_token_loss, naive_token_logps
from litlab.alignment.losses import DPO, ORPO, SMPO, SimPO

B, T, D, V = 3, 9, 5, 13


def setup(seed=0, bias=True):
    g = torch.Generator().manual_seed(seed)
    r = 2 * B
    h = torch.randn(r, T, D, generator=g, dtype=torch.float64).requires_grad_()
    w = torch.randn(V, D, generator=g, dtype=torch.float64).requires_grad_()
    b = torch.randn(V, generator=g, dtype=torch.float64).requires_grad_() if bias else None
    y = torch.randint(0, V, (r, T), generator=g)
    y[:, :3] = -100  # prompts
    y[1, -2:] = -100  # padding, so rows have different lengths
    cm = y != -100
    eos = torch.zeros_like(cm)
    eos[torch.arange(r), 2 + cm.sum(1)] = True  # the last label of each row
    # rows interleaved on purpose: pairs are matched by pair_index, never by position
    batch = dict(completion_mask=cm, eos_mask=eos, is_rejected=torch.tensor([0, 1, 0, 1, 1, 0], dtype=torch.bool),
                 pair_index=torch.tensor([0, 0, 1, 2, 1, 2]))  # fmt: skip
    return h, w, b, y, batch


OBJECTIVES = {
    "smpo-modified": SMPO(lower_clip_percentile=0.3, min_log_prob=-3.0),  # clipping and flooring really act
    "smpo-upper": SMPO(lower_clip_percentile=0.3, upper_clip_percentile=0.7),
    "smpo-original": SMPO(eos_rejected_coef=1.0, lower_clip_percentile=None, min_log_prob=None),
    "simpo-nll": SimPO(nll_chosen_weight=1.0),
    "orpo": ORPO(),
    "dpo": DPO(beta=0.5),
}
TRANSFORM = HeadTransform(logit_scale=0.7, softcap=3.0, temperature=1.3)


def reference(objective, h, w, b, y, batch, transform, ref_logps):
    loss, info = objective(naive_token_logps(h, w, y, b, transform), batch, ref_logps)
    return loss, info, torch.autograd.grad(loss, [p for p in (h, w, b) if p is not None])


@pytest.mark.parametrize("name", list(OBJECTIVES))
@pytest.mark.parametrize("token_chunk,cache_gib", [(4, 0.0), (7, 1.0), (1, 1e-7), (100, 0.0)])
def test_fused_equals_plain(name, token_chunk, cache_gib):
    h, w, b, y, batch = setup()
    objective = OBJECTIVES[name]
    ref_logps = torch.randn(y.shape, dtype=torch.float64) if objective.needs_reference else None
    loss_ref, info_ref, grads_ref = reference(objective, h, w, b, y, batch, TRANSFORM, ref_logps)
    groups, shared = objective.gradient_groups(batch)
    loss, info = fused_token_loss(
        h, w, y, lambda lp: objective(lp, batch, ref_logps), b, TRANSFORM,
        groups=groups, shared=shared, token_chunk=token_chunk, cache_gib=cache_gib,
    )  # fmt: skip
    torch.testing.assert_close(loss, loss_ref.detach(), rtol=1e-12, atol=1e-12)
    for key, value in info_ref.items():  # the logs come from the evaluation on all log-probs
        torch.testing.assert_close(info[key], value.detach(), rtol=1e-12, atol=1e-12, equal_nan=True)
    grads = torch.autograd.grad(2.5 * loss, [h, w, b])
    for got, exp in zip(grads, grads_ref):
        torch.testing.assert_close(got, 2.5 * exp, rtol=1e-10, atol=1e-12)


def test_smpo_transforms_act_in_this_setup():
    """Guards the test above: the clipped / floored tokens exist, so the shared quantile matters."""
    h, w, b, y, batch = setup()
    _, info = OBJECTIVES["smpo-modified"](naive_token_logps(h, w, y, b, TRANSFORM), batch)
    assert info["frac_clipped_low"] > 0 and info["frac_floored"] > 0


def test_without_bias_and_transform():
    h, w, _, y, batch = setup(seed=3, bias=False)
    objective = SMPO()
    loss_ref, _, grads_ref = reference(objective, h, w, None, y, batch, None, None)
    groups, shared = objective.gradient_groups(batch)
    loss, _ = fused_token_loss(h, w, y, lambda lp: objective(lp, batch), groups=groups, shared=shared, token_chunk=5)
    torch.testing.assert_close(loss, loss_ref.detach(), rtol=1e-12, atol=1e-12)
    for got, exp in zip(torch.autograd.grad(loss, [h, w]), grads_ref):
        torch.testing.assert_close(got, exp, rtol=1e-10, atol=1e-12)


def test_smpo_groups_share_the_pooled_rows():
    _, _, _, _, batch = setup()
    assert SMPO().gradient_groups(batch) == ([[0, 1], [2, 4], [5, 3]], [1, 3, 4])
    assert SMPO(lower_clip_percentile=None).gradient_groups(batch)[1] == []
    assert SMPO(upper_clip_percentile=0.9).gradient_groups(batch)[1] == list(range(6))
    assert SimPO().gradient_groups(batch) == ([[0, 1], [2, 4], [5, 3]], [])


def test_wrong_groups_raise_instead_of_a_wrong_gradient():
    h, w, b, y, _ = setup()
    coupled = lambda lp: lp.sum() ** 2  # noqa: E731  every row's gradient depends on every row
    with pytest.raises(RuntimeError, match="not separable"):
        fused_token_loss(h, w, y, coupled, b, groups=[[r] for r in range(2 * B)], token_chunk=4)
    loss, _ = fused_token_loss(h, w, y, coupled, b, token_chunk=4)  # groups=None is always valid
    torch.testing.assert_close(loss, naive_token_logps(h, w, y, b).sum().detach() ** 2, rtol=1e-12, atol=0)


def test_wrong_groups_with_a_nan_early_gradient_raise():
    """A NaN early gradient (a coupled row read as 0 gives 0/0) must fail the check, not pass it as NaN."""
    h, w, b, y, _ = setup()
    coupled = lambda lp: lp[0].sum() * (lp[1].sum() / lp[1].sum()) + lp[2:].sum()  # noqa: E731  row 0 needs row 1
    n0 = int((y[0] != -100).sum())  # one chunk holds exactly row 0: it is final while row 1 still reads 0
    with pytest.raises(RuntimeError, match="not separable"):
        fused_token_loss(h, w, y, coupled, b, groups=[[r] for r in range(2 * B)], token_chunk=n0)
    loss, _ = fused_token_loss(h, w, y, lambda lp: lp.sum() * float("nan"), b, groups=[[r] for r in range(2 * B)],
                               token_chunk=n0)  # fmt: skip
    assert torch.autograd.grad(loss, h)[0][y != -100].isnan().all()  # NaN everywhere, as the plain path


def test_partial_loss_fn_without_logging():
    h, w, b, y, batch = setup()
    objective = OBJECTIVES["smpo-modified"]
    loss_ref, info_ref, grads_ref = reference(objective, h, w, b, y, batch, None, None)
    groups, shared = objective.gradient_groups(batch)
    calls = []
    partial = lambda lp: calls.append(1) or objective(lp, batch, with_info=False)  # noqa: E731
    loss, info = fused_token_loss(
        h, w, y, lambda lp: objective(lp, batch), b, groups=groups, shared=shared, partial_loss_fn=partial,
        token_chunk=4,
    )  # fmt: skip
    assert len(calls) == B - 1  # pairs 0 and 1 become final before the last evaluation
    assert objective(naive_token_logps(h, w, y, b), batch, with_info=False)[1] == {}
    assert info.keys() == info_ref.keys()
    torch.testing.assert_close(loss, loss_ref.detach(), rtol=1e-12, atol=1e-12)
    for got, exp in zip(torch.autograd.grad(loss, [h, w, b]), grads_ref):
        torch.testing.assert_close(got, exp, rtol=1e-10, atol=1e-12)
    wrong = lambda lp: objective(2.0 * lp, batch, with_info=False)  # noqa: E731
    with pytest.raises(RuntimeError, match="partial_loss_fn"):
        fused_token_loss(h, w, y, lambda lp: objective(lp, batch), b, groups=groups, shared=shared,
                         partial_loss_fn=wrong, token_chunk=4)  # fmt: skip


def count_head_gemms(monkeypatch):
    calls = []
    original = fused._logits
    monkeypatch.setattr(fused, "_logits", lambda h, w: calls.append(h.shape[0]) or original(h, w))
    return calls


def test_cached_chunks_are_not_recomputed(monkeypatch):
    h, w, b, y, batch = setup()
    objective = SMPO(lower_clip_percentile=0.3)
    groups, shared = objective.gradient_groups(batch)
    run = lambda cache: fused_token_loss(  # noqa: E731
        h, w, y, lambda lp: objective(lp, batch), b, groups=groups, shared=shared, token_chunk=1, cache_gib=cache
    )
    n_tokens = int((y != -100).sum())
    calls = count_head_gemms(monkeypatch)
    run(1.0)
    assert sum(calls) == n_tokens  # every logit computed once: z, dH, dW only
    calls.clear()
    run(0.0)  # no budget: every one-token chunk that waits (for its pair or the pooled rows) is recomputed;
    # only the last token of each chosen row (computed last in its pair, after all rejected rows) is not
    assert sum(calls) == 2 * n_tokens - B


def test_cache_budget_counts_autocast_logits(monkeypatch):
    """Under autocast the cached logits are bf16 while hidden is fp32: the budget must count the logits' own
    bytes, so the same budget recomputes as many chunks as with bf16 inputs (no budget growth on eviction)."""
    h, w, b, y, batch = setup()
    objective = SMPO(lower_clip_percentile=0.3)
    groups, shared = objective.gradient_groups(batch)
    run = lambda h, w, b, cache: fused_token_loss(  # noqa: E731
        h, w, y, lambda lp: objective(lp, batch), b, groups=groups, shared=shared, token_chunk=1, cache_gib=cache
    )
    calls = count_head_gemms(monkeypatch)
    for chunks_in_budget in (0, 3):
        cache = chunks_in_budget * V * 2 / 2**30  # room for that many one-token bf16 chunks
        calls.clear()
        run(*(t.detach().bfloat16() for t in (h, w, b)), cache)
        bf16_inputs = sum(calls)
        calls.clear()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            run(*(t.detach().float() for t in (h, w, b)), cache)
        assert sum(calls) == bf16_inputs > int((y != -100).sum())  # some chunks recomputed in both


def test_no_labels_and_bad_arguments():
    h, w, b, y, _ = setup()
    none = torch.full_like(y, -100)
    loss, _ = fused_token_loss(h, w, none, lambda lp: lp.sum() + 1.0)
    assert loss.item() == 1.0
    assert torch.autograd.grad(loss, h)[0].abs().sum() == 0
    simple = lambda lp: lp.sum()  # noqa: E731
    with pytest.raises(ValueError, match="cache_gib"):
        fused_token_loss(h, w, y, simple, cache_gib=-1.0)
    with pytest.raises(ValueError, match="partition"):
        fused_token_loss(h, w, y, simple, groups=[[0, 1], [1, 2, 3, 4, 5]])
    with pytest.raises(ValueError, match="shared"):
        fused_token_loss(h, w, y, simple, shared=[7])
    with pytest.raises(ValueError, match="scalar"):
        fused_token_loss(h, w, y, lambda lp: lp)
    with pytest.raises(ValueError, match="targets"):
        fused_token_loss(h, w, y + V, simple)


@pytest.mark.slow
def test_compiled_path_is_exact():
    """The torch.compile path (the CUDA default) forms dz in place over the cached logits; float64 on CPU."""
    h, w, b, y, batch = setup(seed=5)
    objective = OBJECTIVES["smpo-modified"]
    loss_ref, _, grads_ref = reference(objective, h, w, b, y, batch, TRANSFORM, None)
    groups, shared = objective.gradient_groups(batch)
    loss, _ = fused_token_loss(
        h, w, y, lambda lp: objective(lp, batch), b, TRANSFORM, groups=groups, shared=shared, token_chunk=6,
        compile=True,
    )  # fmt: skip
    torch.testing.assert_close(loss, loss_ref.detach(), rtol=1e-12, atol=1e-12)
    for got, exp in zip(torch.autograd.grad(loss, [h, w, b]), grads_ref):
        torch.testing.assert_close(got, exp, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("objective", [SMPO(lower_clip_percentile=0.3), DPO(beta=0.5)], ids=["smpo", "dpo"])
def test_aligner_fused_head_equals_the_chunked_path(objective):
    from litlab.alignment import LitlabCausalLM, PreferenceAligner
    from litlab.attention import BackboneConfig

    torch.manual_seed(0)
    policy = LitlabCausalLM(40, BackboneConfig(dim=32, num_layers=2, num_heads=2, head_dim=16, pattern="LS"))
    aligner = PreferenceAligner(policy, objective, fused_head=True, token_chunk=7, eval_prompts=0)
    _, _, _, y, batch = setup(seed=2)
    ids = torch.randint(0, 40, y.shape)
    targets = torch.where(y == -100, y, ids.roll(-1, 1))
    batch = dict(batch, input_ids=ids, attention_mask=torch.ones_like(ids), targets=targets)
    ref = aligner.reference_logps(batch) if objective.needs_reference else None
    params = [p for p in policy.parameters() if p.requires_grad]
    loss_f, info_f = aligner.fused_loss(batch, ref, 1.0)
    grads_f = torch.autograd.grad(loss_f, params)
    loss_c, info_c = objective(aligner.token_logps(policy, batch), batch, ref)
    grads_c = torch.autograd.grad(loss_c, params)
    torch.testing.assert_close(loss_f, loss_c.detach(), rtol=1e-6, atol=1e-6)
    assert info_f.keys() == info_c.keys()
    for got, exp in zip(grads_f, grads_c):
        torch.testing.assert_close(got, exp, rtol=1e-4, atol=1e-6)


def test_aligner_training_step_takes_the_fused_path_only_with_grad(monkeypatch):
    from litlab.alignment import LitlabCausalLM, PreferenceAligner
    from litlab.attention import BackboneConfig

    torch.manual_seed(1)
    policy = LitlabCausalLM(40, BackboneConfig(dim=32, num_layers=1, num_heads=2, head_dim=16, pattern="L"))
    objective = SMPO(lower_clip_percentile=0.3)
    fused_aligner = PreferenceAligner(policy, objective, fused_head=True, token_chunk=5, eval_prompts=0)
    plain_aligner = PreferenceAligner(policy, objective, token_chunk=5, eval_prompts=0)
    _, _, _, y, batch = setup(seed=4)
    ids = torch.randint(0, 40, y.shape)
    batch = dict(batch, input_ids=ids, attention_mask=torch.ones_like(ids), targets=torch.where(y == -100, y, ids))
    calls = []
    original = fused_aligner.fused_loss
    monkeypatch.setattr(fused_aligner, "fused_loss", lambda *a: calls.append(1) or original(*a))
    params = [p for p in policy.parameters() if p.requires_grad]
    loss_f = fused_aligner.training_step(batch, 0)
    assert calls == [1]
    grads_f = torch.autograd.grad(loss_f, params)
    loss_c = plain_aligner.training_step(batch, 0)
    torch.testing.assert_close(loss_f, loss_c.detach(), rtol=1e-6, atol=1e-6)
    for got, exp in zip(grads_f, torch.autograd.grad(loss_c, params)):
        torch.testing.assert_close(got, exp, rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        fused_aligner.validation_step(batch, 0)  # validation keeps the chunked path
    assert calls == [1]
    with pytest.raises(ValueError, match="fused_cache_gib"):
        PreferenceAligner(policy, objective, fused_head=True, fused_cache_gib=-1.0)
