"""`torch.compile` of the blocks (`Backbone.compile_blocks`, `LanguageModel.use_compile`): the compiled
model computes the same loss and gradients as the eager one for a hybrid lightning/softmax/MoE stack,
handles a new batch shape, and the blocks share their compiled graphs instead of compiling one set each.
Runs Dynamo + AOTAutograd with the `aot_eager` backend (no code generation, so it stays CPU-cheap); the
GPU test in test_lm_gpu.py uses Inductor."""

import pytest
import torch
from torch._dynamo.utils import counters

from litlab.attention import BackboneConfig, LanguageModel


@pytest.mark.slow
def test_compiled_blocks_match_eager_and_share_graphs():
    torch.manual_seed(0)
    cfg = BackboneConfig(dim=32, num_layers=6, num_heads=2, head_dim=16, pattern="LLS", ffn="moe", num_experts=4)
    eager = LanguageModel(cfg, vocab_size=90)
    compiled = LanguageModel(cfg, vocab_size=90)
    compiled.load_state_dict(eager.state_dict())
    torch._dynamo.reset()
    counters.clear()
    compiled.use_compile(backend="aot_eager")
    batch = torch.randint(0, 90, (2, 33))
    ref, out = eager.loss(batch)[0], compiled.loss(batch)[0]
    ref.backward()
    out.backward()
    assert abs(out.item() - ref.item()) < 1e-6
    for (name, p), q in zip(eager.named_parameters(), compiled.parameters(), strict=True):
        assert (p.grad - q.grad).norm() <= 1e-5 * p.grad.norm() + 1e-9, name
    graphs = counters["stats"]["unique_graphs"]
    assert 0 < graphs < cfg.num_layers * 2, f"{graphs} graphs: blocks are recompiled one by one"
    other = torch.randint(0, 90, (3, 17))  # a new shape: dynamic, no error, same result as eager
    assert abs(compiled.loss(other)[0].item() - eager.loss(other)[0].item()) < 1e-6
