"""GPU checks (marked gpu; skipped without CUDA): FAST coefficients, encode and decode give the same
integers, ids and chunks with the chunks on the device as on the CPU, and the spline toy trains and
greedy-decodes on CUDA (cached decoding equal to the parallel forward)."""

import numpy as np
import pytest
import torch

from litlab.robotics import FASTTokenizer, fast_coefficients
from litlab.robotics.data.synthetic import spline_chunks
from litlab.robotics.spline_toy.module import SplineToy

pytestmark = pytest.mark.gpu


def test_coefficients_encode_decode_on_cuda_equal_cpu():
    train, test = spline_chunks(400, 50, 7, seed=0), spline_chunks(300, 50, 7, seed=1)
    tok = FASTTokenizer().fit(train)
    x = torch.from_numpy(test)
    assert torch.equal(fast_coefficients(x.cuda()).cpu(), fast_coefficients(x))
    ids = tok.encode(x)
    assert tok.encode(x.cuda()) == ids
    out = tok.decode(ids, device="cuda")
    assert out.device.type == "cuda" and out.dtype == torch.float64
    torch.testing.assert_close(out.cpu(), tok.decode(ids), rtol=0, atol=1e-12)
    bound = 0.5 / tok.scale * np.sqrt(50 * 7)  # per-chunk L2 rounding bound (orthonormal DCT)
    assert (out.cpu() - x).flatten(1).norm(dim=1).max() <= bound


def test_spline_toy_trains_and_decodes_on_cuda():
    import lightning as L

    torch.manual_seed(0)
    model = SplineToy("fast", 50, n_train=256, n_val=8, batch_size=16, dim=64)
    trainer = L.Trainer(
        max_steps=20, accelerator="gpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(model)
    assert model._pool[1].device.type == "cuda"  # the pre-tokenized pool went to the device at fit start
    model = model.cuda().eval()  # Lightning hands the module back on the CPU after fit
    res = model.evaluate()
    assert np.isfinite(res["mse"]) and 0 <= res["decode_failures"] <= 1
    points = torch.as_tensor(model.val_points, dtype=torch.float32, device="cuda")
    allowed = model.codec.allowed()
    gen = torch.tensor(model.model.generate(points, model.codec.bos, 12, allowed, None), device="cuda")
    inp = torch.cat([torch.full((8, 1), model.codec.bos, device="cuda"), gen[:, :-1]], 1)
    net = model.model
    with torch.no_grad():
        x = torch.cat([net.point_proj(points), net.embed(inp)], 1)  # (8, 4 + 12, C)
        full = net.backbone(x)
        h, state = net.backbone.prefill(x[:, :5], net.backbone.init_state(8))  # points + BOS
        steps = [h] + [net.backbone.step(x[:, t], state)[0][:, None] for t in range(5, x.shape[1])]
        torch.testing.assert_close(torch.cat(steps, 1), full, rtol=1e-4, atol=1e-4)  # cached == parallel
        tf = net.head(full[:, 4:]).masked_fill(~allowed.cuda(), float("-inf")).argmax(-1)
    assert (tf == gen).float().mean() >= 0.95  # greedy ids are the forward's argmax (ties aside)
