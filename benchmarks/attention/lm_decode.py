"""Per-token decode latency against context length (attention issue, experiment 4).

A lightning LM keeps an fp32 state of fixed size per layer, so a decode step costs the same at any
context; a softmax LM reads its whole KV cache, so its step grows with the context. The models are
the lm-*.yaml recipe size (dim 256, 4 layers, 4 heads x 64, vocab 4096; random weights: latency does
not depend on them). B = 1; each context is prefilled in parallel (chunks of 1024), then `steps`
decode steps are timed one by one; the median is reported.

    nice python benchmarks/attention/lm_decode.py --out packages/attention/docs     # CPU, one thread
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from litlab.attention import BackboneConfig, CausalLM

PATTERNS = {"lightning (L)": "L", "hybrid (LLLS)": "LLLS", "softmax (S)": "S"}


@torch.no_grad()
def decode_ms(lm: CausalLM, context: int, steps: int, device: str) -> float:
    state = lm.backbone.init_state(1)
    ids = torch.randint(0, lm.vocab_size, (1, context), device=device)
    for start in range(0, context, 1024):
        _, state = lm.backbone.prefill(lm.embed(ids[:, start : start + 1024]), state)
    token = ids[:, -1]
    times = []
    for _ in range(steps):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        hidden, state = lm.backbone.step(lm.embed(token), state)
        token = lm.logits(hidden).argmax(-1)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--contexts", type=int, nargs="+", default=[128, 1024, 4096, 16384])
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="packages/attention/docs")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for name, pattern in PATTERNS.items():
        torch.manual_seed(0)
        cfg = BackboneConfig(dim=256, num_layers=4, num_heads=4, head_dim=64, pattern=pattern)
        lm = CausalLM(4096, cfg).to(args.device).eval()
        results[name] = {c: decode_ms(lm, c, args.steps, args.device) for c in args.contexts}
        print(name, {c: round(v, 2) for c, v in results[name].items()}, flush=True)
    lines = ["| model | " + " | ".join(str(c) for c in args.contexts) + " |", "|---|" + "---:|" * len(args.contexts)]
    lines += [f"| {n} | " + " | ".join(f"{v:.2f}" for v in r.values()) + " |" for n, r in results.items()]
    print("ms per token, by context length\n" + "\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=110)
    for name, r in results.items():
        ax.plot(list(r), list(r.values()), marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("ms per decoded token")
    ax.set_title(f"decode latency, B=1, {args.device}, {args.threads} thread(s)")
    ax.set_ylim(bottom=0)
    ax.legend()
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    fig.savefig(os.path.join(args.out, "lm_decode.png"))
    with open(os.path.join(args.out, "lm_decode.json"), "w") as f:
        json.dump({"device": args.device, "threads": args.threads, "ms_per_token": results}, f, indent=1)


if __name__ == "__main__":
    main()
