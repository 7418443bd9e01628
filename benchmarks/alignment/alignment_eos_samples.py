"""Greedy completions of finished experiment runs on a few OOD / ID prompts (qualitative check).

python benchmarks/alignment/alignment_eos_samples.py runs/alignment-exp --runs sft stress-dpo-lr0.0003-s0 --n 4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from litlab.alignment.data.tokenizer import load_tokenizer
from litlab.alignment.models import LitlabCausalLM
from litlab.attention import BackboneConfig

BACKBONE = BackboneConfig(dim=128, num_layers=4, num_heads=4, head_dim=32, pattern="LS")


def completions(ckpt: Path, tok, rows: list[dict], max_new: int) -> list[str]:
    policy = LitlabCausalLM(vocab_size=384, backbone=BACKBONE, checkpoint=str(ckpt)).eval()
    out = []
    for r in rows:
        ids = torch.tensor([tok(r["prompt"], add_special_tokens=False)["input_ids"]])
        new = policy.generate(ids, max_new, 0.0, [tok.eos_token_id])[0].tolist()
        out.append(tok.decode(new).replace("\n", "\\n"))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("root", nargs="?", default="runs/alignment-exp")
    p.add_argument("--runs", nargs="+", required=True)
    p.add_argument("--split", default="eval_ood")
    p.add_argument("--data", default="data/alignment/arith-stress")
    p.add_argument("--tokenizer", default="data/alignment/arith/tokenizer")
    p.add_argument("--n", type=int, default=4)
    a = p.parse_args()
    torch.set_num_threads(1)
    tok = load_tokenizer(a.tokenizer)
    rows = [json.loads(line) for line in open(Path(a.data) / f"{a.split}.jsonl")][: a.n]
    print("| run | " + " | ".join(f"`{r['prompt'].strip()}` (gold {r['answer']})" for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for run in a.runs:
        ckpt = sorted((Path(a.root) / run).glob("version_*/checkpoints/last.ckpt"))[-1]
        cells = completions(ckpt, tok, rows, 48)
        print(f"| {run} | " + " | ".join(f"`{c}`" for c in cells) + " |")


if __name__ == "__main__":
    main()
