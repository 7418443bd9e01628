"""Training throughput of ~150M-parameter LMs against context length (attention issue, experiment 1).

Side by side in one process on one GPU, 65,536 tokens per step (B = 65536 / T), bf16 autocast, fused
AdamW, median of the timed steps after warm-up; no Lightning in the timed loop:
- litlab lightning LM: CausalLM, pattern "L", hidden 768, 12 layers, 6 heads x 128, SwiGLU 3072, tied
  vocab 32k, the `LanguageModel.loss` (fused chunked head + CE) -- the training step of the recipe;
  `-eager` without torch.compile, plain with `LanguageModel.use_compile()` (compiled blocks and CE chunk);
- litlab lightning LM `-matched`: fla RetNet's parameter counts (untied head, SwiGLU 2048: 141.2M, of which
  92.0M non-embedding), so both models do the same matmul FLOPs per token;
- litlab softmax LM: the same with pattern "S" (RoPE + SDPA/FlashAttention);
- fla `RetNetForCausalLM` (flash-linear-attention 0.6.0: constant per-head decay, fused norm/SwiGLU/CE);
- HF `LlamaForCausalLM` with SDPA.

    python benchmarks/attention/lm_throughput.py --out results/ --profile 4096
        # appends one JSON line per (model, T) to results/lm_throughput.jsonl, profiles of the litlab
        # models at T = 4096 to results/lm_profile.md, and prints a markdown table
    python benchmarks/attention/lm_throughput.py --report results/lm_throughput.jsonl [--plot lm_throughput.png]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

TOKENS = 65536
LITLAB = {
    "litlab-lightning": "L",
    "litlab-lightning-eager": "L",
    "litlab-lightning-matched": "L",
    "litlab-softmax": "S",
    "litlab-softmax-eager": "S",
}


def litlab_model(name: str):
    from litlab.attention import BackboneConfig, LanguageModel

    # "-matched": fla RetNet's sizes exactly (untied head, SwiGLU 2048: 141.2M, 92.0M non-embedding), so both do
    # the same matmul FLOPs per token; the others: the recipe's tied head and SwiGLU 3072 (144.9M, 120.3M)
    matched = name.endswith("-matched")
    cfg = BackboneConfig(
        dim=768, num_layers=12, num_heads=6, head_dim=128, pattern=LITLAB[name], ffn_hidden=2048 if matched else 3072
    )
    module = LanguageModel(cfg, vocab_size=32000, tie_embeddings=not matched)
    if not name.endswith("-eager"):
        module.use_compile()
    return module, lambda ids: module.loss(ids)[0]


def fla_retnet(name: str):
    from fla.models import RetNetConfig, RetNetForCausalLM

    # fla's defaults give 134M (MLP 1024); MLP 1280 gives the anchor's 141M (92M non-embedding, untied head)
    cfg = RetNetConfig(hidden_size=768, num_hidden_layers=12, num_heads=6, vocab_size=32000, intermediate_size=1280)
    model = RetNetForCausalLM(cfg)
    return model, lambda ids: model(input_ids=ids[:, :-1], labels=ids[:, :-1]).loss


def hf_llama(name: str):
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


# Spec anchors (tokens/s on one H200, measured by the same protocol in another run), drawn dashed by --anchors
ANCHORS = {
    "fla-retnet 141M (anchor)": [453.9e3, 444.9e3, 441.1e3, 368.6e3],
    "hf-llama-sdpa 162M (anchor)": [251.0e3, 232.2e3, 174.9e3, 87.9e3],
}
MODELS = {**{name: litlab_model for name in LITLAB}, "fla-retnet": fla_retnet, "hf-llama-sdpa": hf_llama}


def make_step(model, loss_fn, seq_len: int):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    ids = torch.randint(0, 32000, (TOKENS // seq_len, seq_len + 1), device="cuda")

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = loss_fn(ids)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def measure(step, warmup: int, steps: int) -> tuple[float, float, float]:
    """(median tokens/s, first warm-up step s, peak GiB) of full training steps."""
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(warmup + steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return TOKENS / statistics.median(times[warmup:]), times[0], torch.cuda.max_memory_allocated() / 2**30


def run_model(name: str, args) -> None:
    torch.manual_seed(0)
    model, loss_fn = MODELS[name](name)
    model = model.cuda()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    for t in args.lengths:
        step = make_step(model, loss_fn, t)
        try:
            tok_s, first_s, gib = measure(step, args.warmup, args.steps)
        except torch.OutOfMemoryError:
            tok_s, first_s, gib = float("nan"), float("nan"), float("nan")
        row = {"model": name, "params_M": params, "T": t, "tokens_per_s": tok_s, "peak_GiB": gib, "first_s": first_s}
        print(json.dumps(row), flush=True)
        with open(os.path.join(args.out, "lm_throughput.jsonl"), "a") as f:
            f.write(json.dumps(row) + "\n")
        if name.startswith("litlab") and t == args.profile:
            from lm_profile import format_profile, profile_steps

            text = format_profile(f"{name} ({params:.0f}M), T = {t}", profile_steps(step))
            print(text, flush=True)
            with open(os.path.join(args.out, "lm_profile.md"), "a") as f:
                f.write(text + "\n\n")
        del step
        torch.cuda.empty_cache()
    del model, loss_fn
    torch.cuda.empty_cache()


def report(path: str) -> str:
    rows = [json.loads(line) for line in open(path)]
    lengths = sorted({r["T"] for r in rows})
    lines = ["| model | " + " | ".join(f"T = {t // 1024}K" for t in lengths) + " |", "|---|" + "---:|" * len(lengths)]
    for name in dict.fromkeys(r["model"] for r in rows):
        by_t = {r["T"]: r for r in rows if r["model"] == name}
        cells = [
            f"{by_t[t]['tokens_per_s'] / 1e3:.1f}k ({by_t[t]['peak_GiB']:.0f})" if t in by_t else "-" for t in lengths
        ]
        params = next(iter(by_t.values()))["params_M"]
        lines.append(f"| {name} ({params:.0f}M) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(path: str, png: str, anchors: bool = False) -> None:
    """Tokens/s against T for every model of an lm_throughput.jsonl (and the spec anchors), as a small PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in open(path)]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    for name in dict.fromkeys(r["model"] for r in rows):
        pts = sorted((r["T"], r["tokens_per_s"] / 1e3) for r in rows if r["model"] == name)
        params = next(r["params_M"] for r in rows if r["model"] == name)
        ax.plot(*zip(*pts), marker="o", label=f"{name} ({params:.0f}M)")
    for name, values in ANCHORS.items() if anchors else ():
        ax.plot([1024, 4096, 16384, 65536], [v / 1e3 for v in values], "--", marker="x", label=name)
    ax.set(xscale="log", xlabel="context T (65,536 tokens per step)", ylabel="training tokens/s (thousands)")
    ax.set_xticks([1024, 4096, 16384, 65536], ["1K", "4K", "16K", "64K"])
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 16384, 65536])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--profile", type=int, default=4096, help="profile litlab models at this T (0: never)")
    p.add_argument("--out", default=".")
    p.add_argument("--report", help="print the table of an existing lm_throughput.jsonl and exit")
    p.add_argument("--plot", help="with --report: also save tokens/s against T to this PNG")
    p.add_argument("--anchors", action="store_true", help="with --plot: draw the spec anchors dashed")
    args = p.parse_args()
    if args.report:
        print(report(args.report))
        if args.plot:
            plot(args.report, args.plot, args.anchors)
        return
    os.makedirs(args.out, exist_ok=True)
    print(f"GPU {torch.cuda.get_device_name()}, torch {torch.__version__}", flush=True)
    for name in args.models:
        t0 = time.perf_counter()
        try:
            run_model(name, args)
        except Exception as e:  # one model's failure (a missing package, a compile error) must not end the run
            print(f"{name}: FAILED {type(e).__name__}: {e}", flush=True)
        print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
    print(report(os.path.join(args.out, "lm_throughput.jsonl")))


if __name__ == "__main__":
    main()
