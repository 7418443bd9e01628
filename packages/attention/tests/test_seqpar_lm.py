"""A hybrid backbone and a LanguageModel trained with the time axis split over gloo processes.

(1) A lightning + softmax backbone (learnable decay, grouped-query heads, learned SSMax) over a sequence split
in 2 and 4 pieces gives the unsplit hidden states and gradients in float64 (parameter gradients summed over
the ranks). (2) `SequenceParallelStrategy` training the LanguageModel: 2 processes splitting each window
reach the losses and parameters of one process after 3 AdamW steps, and 4 processes (2 data-parallel groups
of 2) those of one process at twice the batch.
"""

from __future__ import annotations

import lightning as L
import pytest
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from litlab.attention import LanguageModel
from litlab.attention.lm.seqpar import SequenceParallelStrategy, enable_sequence_parallel, shard_windows
from litlab.attention.models.backbone import Backbone
from litlab.attention.ops.seqpar import spawn_gloo, spawn_lightning
from litlab.attention.ops.testing import rel

BACKBONE = dict(dim=24, num_layers=3, num_heads=2, head_dim=12, pattern="LS", num_kv_heads=1,
                learnable_decay=True, ssmax="learn", ssmax_train_len=16)  # fmt: skip
T, VOCAB = 16, 50
# Lightning's distributed sampler takes its shuffling seed from PL_GLOBAL_SEED (written by seed_everything, so
# by any LightningCLI run earlier in the same process) and spawned ranks inherit it: the split runs pin it
# (not 0, Lightning's fallback, so a pin that does not reach the ranks fails) and the reference's sampler uses it
SAMPLER_SEED = 3


def _backbone_case(rank: int, size: int) -> None:
    torch.manual_seed(0)
    net = Backbone(**BACKBONE).double()
    x = torch.randn(2, T, BACKBONE["dim"], dtype=torch.float64)
    dy = torch.randn_like(x)
    piece = slice(rank * T // size, (rank + 1) * T // size)
    xs = x.clone().requires_grad_()
    (net(xs) * dy).sum().backward()
    ref = {"y": net(x)[:, piece].detach(), "dx": xs.grad[:, piece]}
    ref.update({n: p.grad.clone() for n, p in net.named_parameters()})
    net.zero_grad()
    assert enable_sequence_parallel(net, dist.group.WORLD) == BACKBONE["num_layers"]
    xr = x[:, piece].clone().requires_grad_()
    y = net(xr)
    (y * dy[:, piece]).sum().backward()
    got = {"y": y.detach(), "dx": xr.grad}
    for n, p in net.named_parameters():
        dist.all_reduce(p.grad)  # each rank holds its share of a replicated parameter's gradient
        got[n] = p.grad
    # the lightning layer hands its learnable slopes to the op in fp32 (LightningAttention.decay), so their
    # gradients are rounded to fp32: summing per-rank shares rounds differently from one sum (1e-7 apart)
    tol = {k: 1e-6 if k.endswith("slopes") else 1e-12 for k in ref}
    bad = {k: f"{rel(got[k], v):.1e}" for k, v in ref.items() if not rel(got[k], v) < tol[k]}
    assert not bad, f"rank {rank} of {size}: rel errors {bad}"


@pytest.mark.parametrize("size", [2, 4])
def test_split_hybrid_backbone_matches_one_device(size):
    spawn_gloo(_backbone_case, size)


class _Losses(L.Callback):
    """Each step's loss averaged over every rank (= the global batch's mean: equal tokens per rank)."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"].detach().clone()
        if dist.is_initialized():
            dist.all_reduce(loss)
            loss /= dist.get_world_size()
        self.losses.append(float(loss))


def _fit(devices: int, strategy, batch_size: int, steps: int = 3) -> tuple[list[float], dict]:
    torch.manual_seed(0)
    model = LanguageModel(backbone=BACKBONE, vocab_size=VOCAB, lr=1e-2, warmup_steps=0, sample_prompt="", compile=False)
    windows = torch.randint(0, VOCAB, (16, T + 1), generator=torch.Generator().manual_seed(1))
    losses = _Losses()
    trainer = L.Trainer(
        accelerator="cpu", devices=devices, strategy=strategy, precision="64-true", max_steps=steps,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        limit_val_batches=0, callbacks=[losses],
    )  # fmt: skip
    # one process reads the permutation that Lightning's distributed sampler (shuffling, SAMPLER_SEED) deals out
    sampler = DistributedSampler(windows, num_replicas=1, rank=0, seed=SAMPLER_SEED) if devices == 1 else None
    trainer.fit(model, DataLoader(list(windows), batch_size=batch_size, sampler=sampler))
    return losses.losses, {k: v.detach().clone() for k, v in model.state_dict().items()}


def _fit_split(rank: int, size: int, sp_size: int, out: str) -> None:
    strategy = SequenceParallelStrategy(sp_size, process_group_backend="gloo")
    losses, params = _fit(size, strategy, batch_size=2)
    if rank == 0:
        torch.save({"losses": losses, "params": params}, out)


@pytest.mark.parametrize("size, sp_size", [(2, 2), pytest.param(4, 2, marks=pytest.mark.slow)], ids=["sp2", "dp2xsp2"])
def test_sequence_parallel_training_matches_one_process(tmp_path, monkeypatch, size, sp_size):
    monkeypatch.setenv("PL_GLOBAL_SEED", str(SAMPLER_SEED))
    out = str(tmp_path / "split.pt")
    spawn_lightning(_fit_split, size, sp_size, out)
    split = torch.load(out)
    losses, params = _fit(1, "auto", batch_size=2 * size // sp_size)
    torch.testing.assert_close(split["losses"], losses, rtol=1e-10, atol=0)
    torch.manual_seed(0)
    start = LanguageModel(backbone=BACKBONE, vocab_size=VOCAB).state_dict()
    assert max((params[k].double() - v.double()).abs().max() for k, v in start.items()) > 1e-3  # it trained
    # the slopes' fp32 gradients (see above) put them 1e-7 apart after a step; that moves every later gradient
    # by ~1e-9 relative, which Adam's normalised step turns into up to ~lr x 1e-8 = 1e-10 absolute (5.5e-11 seen
    # with SAMPLER_SEED; with fixed slopes every parameter agrees within 1e-13)
    for name, want in params.items():
        rtol, atol = (1e-6, 1e-9) if name.endswith("slopes") else (1e-9, 2e-10)
        torch.testing.assert_close(split["params"][name], want, rtol=rtol, atol=atol, msg=lambda m, n=name: f"{n}: {m}")


def test_shard_windows_overlap_by_one_token_and_errors():
    batch = torch.arange(2 * 9).view(2, 9)  # T = 8 inputs + 1
    pieces = [shard_windows(batch, r, 4) for r in range(4)]
    assert [p[0].tolist() for p in pieces] == [[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 8]]
    with pytest.raises(ValueError, match="T = 8 tokens per window must be a multiple of the group size 3"):
        shard_windows(batch, 0, 3)
    with pytest.raises(ValueError, match=r"token windows \[B, T \+ 1\], got dict"):
        shard_windows({"input_ids": batch}, 0, 2)
    with pytest.raises(ValueError, match="sequence_parallel_size: got 0"):
        SequenceParallelStrategy(0)
