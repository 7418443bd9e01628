"""Length generalisation with Scalable-Softmax (attention issue, experiment 2).

Loads the checkpoints written by benchmarks/attention/lm_quality.py (all trained at context 256 on the embedded
corpus) and measures the validation cross-entropy at each position of 4096-token windows of the
held-out split: softmax (RoPE), softmax + SSMax (learned s), the softmax model with training-free
"posthoc" SSMax (multiplier max(1, log_256 n)), and the lightning / hybrid models for reference.

    nice python benchmarks/attention/lm_length.py --runs runs/lm_quality --out packages/attention/docs
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from litlab.attention import LanguageModel, TextDataModule
from litlab.attention.models import CausalLM


def load(runs: Path, recipe: str) -> LanguageModel:
    run = max((runs / recipe).glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    ckpt = run / "checkpoints" / "last.ckpt"
    return LanguageModel.load_from_checkpoint(ckpt, map_location="cpu").eval()


@torch.no_grad()
def loss_by_position(model: CausalLM, windows: torch.Tensor) -> np.ndarray:
    """Mean next-token CE at each position [T] over windows [N, T + 1]."""
    total = torch.zeros(windows.shape[1] - 1, dtype=torch.float64)
    for w in windows:
        logits = model(w[None, :-1])[0]
        total += F.cross_entropy(logits.float(), w[1:], reduction="none").double()
    return (total / len(windows)).numpy()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="runs/lm_quality")
    p.add_argument("--length", type=int, default=4096)
    p.add_argument("--windows", type=int, default=40)
    p.add_argument("--train_len", type=int, default=256)
    p.add_argument("--out", default="packages/attention/docs")
    args = p.parse_args()
    torch.set_num_threads(1)
    runs = Path(args.runs)
    dm = TextDataModule()  # the recipes' data settings: the same split and cached tokenizer
    dm.prepare_data()
    val = torch.from_numpy(np.asarray(dm.val_tokens, dtype=np.int64))
    n = min(args.windows, (len(val) - 1) // args.length)
    windows = torch.stack([val[i * args.length : i * args.length + args.length + 1] for i in range(n)])
    softmax = load(runs, "lm-softmax")
    posthoc = CausalLM(
        softmax.model.vocab_size, replace(softmax.config, ssmax="posthoc", ssmax_train_len=args.train_len)
    )
    posthoc.load_state_dict(softmax.model.state_dict())
    models = {
        "softmax": softmax.model,
        "softmax + SSMax (learned)": load(runs, "lm-ssmax").model,
        "softmax + posthoc SSMax": posthoc.eval(),
        "lightning": load(runs, "lm-lightning").model,
        "hybrid-MoE": load(runs, "lm-hybrid-moe").model,
    }
    curves = {name: loss_by_position(m, windows) for name, m in models.items()}
    bins = [(0, 256), (256, 512), (512, 1024), (1024, 2048), (2048, 4096)]
    lines = ["| model | " + " | ".join(f"{a}-{b}" for a, b in bins) + " |", "|---|" + "---:|" * len(bins)]
    for name, c in curves.items():
        lines.append(f"| {name} | " + " | ".join(f"{c[a:b].mean():.3f}" for a, b in bins) + " |")
    print(f"validation loss by position ({n} windows of {args.length} tokens)\n" + "\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.4), dpi=110)
    edges = np.unique(np.geomspace(1, args.length, 17).astype(int))
    for name, c in curves.items():
        ax.plot(edges[1:], [c[a:b].mean() for a, b in zip(edges[:-1], edges[1:])], label=name)
    ax.axvline(args.train_len, color="grey", ls=":", lw=1)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("position in the window (trained at 256)")
    ax.set_ylabel("validation loss (nats/token)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    fig.savefig(os.path.join(args.out, "lm_length.png"))
    summary = {k: {f"{a}-{b}": float(v[a:b].mean()) for a, b in bins} for k, v in curves.items()}
    with open(os.path.join(args.out, "lm_length.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
