"""litlab.shared.optim: parameter groups and the warmup + cosine schedule, against values worked out by hand."""

import math

import pytest
import torch
from torch import nn

from litlab.shared.optim import adamw_warmup_cosine, check_schedule, param_groups, warmup_cosine


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(5, 3)
        self.lin = nn.Linear(3, 4)  # weight [4, 3] decays, bias [4] does not
        self.norm = nn.LayerNorm(4)
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)


def test_param_groups_split_matrices_from_vectors():
    m = _Tiny()
    groups = param_groups(m, 0.1)
    decay = {id(p) for p in groups[0]["params"]}
    no_decay = {id(p) for p in groups[1]["params"]}
    assert groups[0]["weight_decay"] == 0.1 and groups[1]["weight_decay"] == 0.0
    assert decay == {id(m.emb.weight), id(m.lin.weight)}
    assert no_decay == {id(m.lin.bias), id(m.norm.weight), id(m.norm.bias)}


def test_param_groups_embeddings_without_decay():
    m = _Tiny()
    groups = param_groups(m, 0.1, decay_embeddings=False)
    assert {id(p) for p in groups[0]["params"]} == {id(m.lin.weight)}
    assert id(m.emb.weight) in {id(p) for p in groups[1]["params"]}


def test_param_groups_bad_input():
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        param_groups(_Tiny(), -1.0)
    with pytest.raises(ValueError, match="no trainable parameters"):
        param_groups(nn.Linear(2, 2).requires_grad_(False), 0.1)


def test_warmup_cosine_by_hand():
    assert warmup_cosine(0, 10, 110, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(9, 10, 110, 0.1) == pytest.approx(1.0)
    assert warmup_cosine(60, 10, 110, 0.1) == pytest.approx(0.55)  # half way: 0.1 + 0.9 * 0.5
    assert warmup_cosine(110, 10, 110, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(500, 10, 110, 0.1) == pytest.approx(0.1)


def test_adamw_warmup_cosine_reaches_floor_at_total_steps():
    w = nn.Parameter(torch.zeros(2, 2))
    out = adamw_warmup_cosine([w], lr=1.0, total_steps=20, warmup_steps=5, min_lr_ratio=0.2)
    opt, sched = out["optimizer"], out["lr_scheduler"]["scheduler"]
    assert out["lr_scheduler"]["interval"] == "step"
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.2) and lrs[4] == pytest.approx(1.0)
    assert lrs[-1] == pytest.approx(0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * 14 / 15)))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.2)  # at total_steps: the floor


def test_adamw_warmup_longer_than_run_is_shortened():
    w = nn.Parameter(torch.zeros(1))
    out = adamw_warmup_cosine([w], lr=1.0, total_steps=3, warmup_steps=100, min_lr_ratio=0.0)
    assert out["optimizer"].param_groups[0]["lr"] == pytest.approx(0.5)  # warmup of 2 steps: (0+1)/2
    with pytest.raises(ValueError, match="lr must be > 0"):
        adamw_warmup_cosine([w], lr=0.0, total_steps=3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lr": 0.0, "warmup_steps": 0, "min_lr_ratio": 0.1}, "lr must be > 0, got 0.0"),
        ({"lr": float("nan"), "warmup_steps": 0, "min_lr_ratio": 0.1}, "lr must be > 0, got nan"),
        ({"lr": 1e-3, "warmup_steps": -1, "min_lr_ratio": 0.1}, "warmup_steps must be >= 0, got -1"),
        ({"lr": 1e-3, "warmup_steps": 0, "min_lr_ratio": 1.5}, r"min_lr_ratio must be in \[0, 1\], got 1.5"),
        ({"lr": 1e-3, "warmup_steps": 0, "min_lr_ratio": 0.1, "weight_decay": -0.1}, "weight_decay must be >= 0"),
    ],
)
def test_check_schedule_names_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_schedule(**kwargs)
    check_schedule(lr=1e-3, warmup_steps=0, min_lr_ratio=0.0)  # the edges are accepted
