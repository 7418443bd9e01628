"""GPU checks of the LM stack (marked gpu; skipped without CUDA): the lightning layer on the Triton
kernels agrees with the CPU PyTorch path at bf16 tolerance, and bf16 incremental decoding on CUDA
reproduces the full forward for lightning, softmax and hybrid stacks."""

import pytest
import torch
from torch._dynamo.utils import counters

from litlab.attention import BackboneConfig, CausalLM, LanguageModel, LightningAttention

pytestmark = pytest.mark.gpu


def test_lightning_layer_triton_matches_cpu_torch_path():
    torch.manual_seed(0)
    layer = LightningAttention(256, 4, 64, layer_idx=1, num_layers=4)
    x = torch.randn(2, 1000, 256)
    ref = layer(x)
    ref.square().mean().backward()
    ref_grad = layer.qkv_proj.weight.grad.clone()
    layer.zero_grad()
    gpu = layer.cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = gpu(x.cuda())
    out.float().square().mean().backward()
    rel = (out.float().cpu() - ref).norm() / ref.norm()
    grad_rel = (gpu.qkv_proj.weight.grad.cpu() - ref_grad).norm() / ref_grad.norm()
    assert rel < 2e-2 and grad_rel < 5e-2, (rel, grad_rel)


@pytest.mark.parametrize("pattern", ["L", "S", "LLLS"])
def test_bf16_decoding_matches_full_forward_on_gpu(pattern):
    torch.manual_seed(0)
    cfg = BackboneConfig(dim=128, num_layers=4, num_heads=2, head_dim=64, pattern=pattern, ffn="moe", num_experts=4)
    lm = CausalLM(300, cfg).cuda().eval()
    ids = torch.randint(0, 300, (2, 300), device="cuda")
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        full = lm(ids).float()
        state = lm.backbone.init_state(2)
        h, state = lm.backbone.prefill(lm.embed(ids[:, :257]), state)
        hs = [h] + [lm.backbone.step(lm.embed(ids[:, t]), state)[0][:, None] for t in range(257, 300)]
        inc = lm.logits(torch.cat(hs, 1)).float()
    assert ((inc - full).norm() / full.norm()).item() < 2e-2


def test_language_model_bf16_training_step_on_gpu():
    torch.manual_seed(0)
    lm = LanguageModel(BackboneConfig(dim=128, num_layers=2, num_heads=2, head_dim=64, pattern="LS"), vocab_size=300)
    lm = lm.cuda()
    batch = torch.randint(0, 300, (4, 513), device="cuda")
    opt = torch.optim.AdamW(lm.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = lm.loss(batch)[0]
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0] - 1.0


@pytest.mark.parametrize("compiled", [False, True])
def test_fused_cross_entropy_matches_plain_head_on_gpu(compiled):
    from litlab.attention.lm.cross_entropy import linear_cross_entropy

    torch.manual_seed(0)
    h = torch.randn(3000, 256, device="cuda", requires_grad=True)
    w = (0.05 * torch.randn(5000, 256, device="cuda")).requires_grad_()
    y = torch.randint(0, 5000, (3000,), device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        ref = torch.nn.functional.cross_entropy(torch.nn.functional.linear(h, w).float(), y)
        out = linear_cross_entropy(h, w, y, chunk_size=1024, compiled=compiled)
    gh, gw = torch.autograd.grad(ref, (h, w))
    dh, dw = torch.autograd.grad(out, (h, w))
    assert abs(out.item() - ref.item()) < 1e-3 * ref.item()
    assert (dh - gh).norm() / gh.norm() < 1e-2 and (dw - gw).norm() / gw.norm() < 1e-2


def test_compiled_language_model_matches_eager_on_gpu():
    torch.manual_seed(0)
    cfg = BackboneConfig(dim=128, num_layers=3, num_heads=2, head_dim=64, pattern="LLS")
    eager = LanguageModel(cfg, vocab_size=300).cuda()
    compiled = LanguageModel(cfg, vocab_size=300).cuda()
    compiled.load_state_dict(eager.state_dict())
    torch._dynamo.reset()
    counters.clear()
    compiled.use_compile()
    batch = torch.randint(0, 300, (4, 257), device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        ref, out = eager.loss(batch)[0], compiled.loss(batch)[0]
    assert counters["stats"]["unique_graphs"] > 0  # it really compiled (Inductor)
    ref.backward()
    out.backward()
    assert abs(out.item() - ref.item()) < 1e-2 * ref.item()
    for p, q in zip(eager.parameters(), compiled.parameters(), strict=True):
        assert (p.grad - q.grad).norm() <= 5e-2 * p.grad.norm() + 1e-6


def test_lightning_layer_training_step_never_syncs_on_gpu():
    """A device sync per layer (e.g. reading the decay back to check it) stalls the launch queue every layer."""
    layer = LightningAttention(256, 2, 128).cuda()
    x = torch.randn(2, 300, 256, device="cuda", requires_grad=True)
    layer(x).sum().backward()  # the first call checks the fixed slopes once
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = layer(x)
        y.float().sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
