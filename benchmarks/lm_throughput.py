"""Training throughput of ~150M-parameter LMs against context length (attention issue, experiment 1).

Side by side in one process on one GPU, 65,536 tokens per step (B = 65536 / T), bf16 autocast, fused
AdamW, median of the timed steps after warm-up; no Lightning in the timed loop:
- litlab lightning LM: CausalLM, pattern "L", hidden 768, 12 layers, 6 heads x 128, SwiGLU 3072, tied
  vocab 32k, the `LanguageModel.loss` (fp32 cross-entropy) -- the exact training step of the recipe;
- litlab softmax LM: the same with pattern "S" (RoPE + SDPA/FlashAttention);
- fla `RetNetForCausalLM` (flash-linear-attention 0.6.0: constant per-head decay, fused norm/SwiGLU/CE);
- HF `LlamaForCausalLM` with SDPA.

    python benchmarks/lm_throughput.py --out results/    # prints a markdown table, writes lm_throughput.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

TOKENS = 65536


def litlab_model(pattern: str):
    from litlab.attention import BackboneConfig, LanguageModel

    cfg = BackboneConfig(dim=768, num_layers=12, num_heads=6, head_dim=128, pattern=pattern, ffn_hidden=3072)
    module = LanguageModel(cfg, vocab_size=32000)
    return module, lambda ids: module.loss(ids)[0]


def fla_retnet():
    from fla.models import RetNetConfig, RetNetForCausalLM

    cfg = RetNetConfig(hidden_size=768, num_hidden_layers=12, num_heads=6, vocab_size=32000)
    model = RetNetForCausalLM(cfg)
    return model, lambda ids: model(input_ids=ids[:, :-1], labels=ids[:, :-1]).loss


def hf_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=6,
        num_key_value_heads=6,
        vocab_size=32000,
        max_position_embeddings=TOKENS,
    )
    model = LlamaForCausalLM._from_config(cfg, attn_implementation="sdpa")
    return model, lambda ids: model(input_ids=ids[:, :-1], labels=ids[:, :-1]).loss


MODELS = {
    "litlab-lightning": lambda: litlab_model("L"),
    "fla-retnet": fla_retnet,
    "hf-llama-sdpa": hf_llama,
    "litlab-softmax": lambda: litlab_model("S"),
}


def measure(loss_fn, model, seq_len: int, warmup: int, steps: int) -> tuple[float, float]:
    """(median tokens/s, peak GiB) of full training steps at context seq_len."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    ids = torch.randint(0, 32000, (TOKENS // seq_len, seq_len + 1), device="cuda")
    torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(warmup + steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = loss_fn(ids)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    del opt
    return TOKENS / statistics.median(times), torch.cuda.max_memory_allocated() / 2**30


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 16384, 65536])
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--out", default=".")
    args = p.parse_args()
    results = {}
    for name in args.models:
        torch.manual_seed(0)
        model, loss_fn = MODELS[name]()
        model = model.cuda()
        params = sum(p.numel() for p in model.parameters()) / 1e6
        results[name] = {"params_M": params}
        for t in args.lengths:
            try:
                tok_s, gib = measure(loss_fn, model, t, args.warmup, args.steps)
            except torch.OutOfMemoryError:
                tok_s, gib = float("nan"), float("nan")
            results[name][t] = (tok_s, gib)
            print(f"{name} ({params:.0f}M) T={t}: {tok_s / 1e3:.1f}k tokens/s, peak {gib:.1f} GiB", flush=True)
            torch.cuda.empty_cache()
        del model, loss_fn
        torch.cuda.empty_cache()
    head = "| model | " + " | ".join(f"T = {t // 1024}K" for t in args.lengths) + " |"
    lines = [head, "|---|" + "---:|" * len(args.lengths)]
    for name, r in results.items():
        cells = [f"{r[t][0] / 1e3:.1f}k ({r[t][1]:.0f})" for t in args.lengths]
        lines.append(f"| {name} ({r['params_M']:.0f}M) | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    info = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "results": results}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "lm_throughput.json"), "w") as f:
        json.dump(info, f, indent=1)


if __name__ == "__main__":
    main()
