"""Bad input gives a ValueError naming the argument, what it got and what it expects."""

import pytest
import torch

from litlab.attention.ops import lightning_attn, lightning_attn_step


def _qkv(b=2, t=8, h=2, d=16, e=16, dtype=torch.float32):
    return (
        torch.randn(b, t, h, d, dtype=dtype),
        torch.randn(b, t, h, d, dtype=dtype),
        torch.randn(b, t, h, e, dtype=dtype),
    )


@pytest.mark.parametrize(
    "case,match",
    [
        (lambda q, k, v: lightning_attn(q[0], k, v), "q: got shape"),
        (lambda q, k, v: lightning_attn(q, k[:, :4], v), "k: got shape"),
        (lambda q, k, v: lightning_attn(q, k, v[:, :, :1]), "v: got shape"),
        (lambda q, k, v: lightning_attn(q, k.half(), v), "k: got dtype"),
        (lambda q, k, v: lightning_attn(q.int(), k.int(), v.int()), "q: got dtype"),
        (lambda q, k, v: lightning_attn(q, k, v, torch.tensor([0.1, -0.5])), r"decay: got \[0.1"),
        (lambda q, k, v: lightning_attn(q, k, v, torch.tensor([0.1, float("nan")])), "decay: got"),
        (lambda q, k, v: lightning_attn(q, k, v, torch.ones(3)), "decay: got shape"),
        (lambda q, k, v: lightning_attn(q, k, v, scale="x"), "scale: got"),
        (
            lambda q, k, v: lightning_attn(q, k, v, initial_state=torch.zeros(2, 2, 16, 8)),
            "initial_state: got",
        ),
        (
            lambda q, k, v: lightning_attn(q, k, v, initial_state=torch.zeros(2, 2, 16, 16).half()),
            "initial_state: got.*float16",
        ),
        (lambda q, k, v: lightning_attn(q, k, v, cu_seqlens=torch.tensor([0, 8])), "B = 1"),
        (lambda q, k, v: lightning_attn(q[:1], k[:1], v[:1], cu_seqlens=torch.tensor([0, 5])), "cu_seqlens"),
        (
            lambda q, k, v: lightning_attn(q[:1], k[:1], v[:1], cu_seqlens=torch.tensor([0, 6, 5, 8])),
            "cu_seqlens",
        ),
        (
            lambda q, k, v: lightning_attn(q[:1], k[:1], v[:1], cu_seqlens=torch.tensor([0.0, 8.0])),
            "cu_seqlens",
        ),
        (lambda q, k, v: lightning_attn(q, k, v, backend="cuda"), "backend: got 'cuda'"),
        (lambda q, k, v: lightning_attn(q.double(), k.double(), v.double(), backend="triton"), "backend"),
        (
            lambda q, k, v: lightning_attn(torch.randn(1, 4, 1, 300), torch.randn(1, 4, 1, 300), v[:1, :4, :1]),
            "head dim 300",
        ),
        (
            lambda q, k, v: lightning_attn_step(q[:, 0], k[:, 0], v[:, 0], torch.zeros(2, 2, 16, 15)),
            "state: got",
        ),
        (
            lambda q, k, v: lightning_attn_step(
                q[:, 0], k[:, 0], v[:, 0], torch.zeros(2, 2, 16, 16), torch.tensor([-1.0, 0.0])
            ),
            "decay",
        ),
    ],
)
def test_bad_input_raises_value_error(case, match):
    with pytest.raises(ValueError, match=match):
        case(*_qkv())
