"""Write a tiny randomly initialised Hugging Face Llama, with the synthetic task's tokenizer, to a folder.

For trying the HF policy path without downloads (and for the CI smoke test):
    python -m litlab.alignment.models.tiny_hf --out data/alignment/tiny-llama
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from litlab.alignment.data.synthetic import ArithmeticTask, generate
from litlab.alignment.data.tokenizer import load_tokenizer, train_task_tokenizer


def make_tiny_llama(out: str | Path, tokenizer: str | Path | None = None, hidden: int = 64, layers: int = 2,
                    seed: int = 0) -> Path:  # fmt: skip
    """Save a tiny LlamaForCausalLM and a tokenizer (copied from `tokenizer`, else trained on the task)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if tokenizer is None:
        rows = [r for split in generate(ArithmeticTask()).values() for r in split]
        train_task_tokenizer([r["prompt"] + r.get("chosen", "") + r.get("rejected", "") for r in rows], out)
    else:
        for f in Path(tokenizer).iterdir():
            if f.is_file():
                shutil.copy(f, out / f.name)
    tok = load_tokenizer(out)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
        bos_token_id=None, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--tokenizer", default=None, help="tokenizer folder to copy (default: train the task's)")
    args = p.parse_args(argv)
    print(make_tiny_llama(args.out, args.tokenizer))


if __name__ == "__main__":
    main()
