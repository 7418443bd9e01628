"""``litlab export``: a training checkpoint -> a transformers folder that loads offline.

    litlab export --ckpt runs/lm-lightning/version_0/checkpoints/last.ckpt --out exported/
    python -c "from transformers import AutoModelForCausalLM as M; M.from_pretrained('exported')"

The module class comes from the checkpoint (``_class_path``, written by ``litlab fit``) or ``--model_class``;
the module is rebuilt with ``load_from_checkpoint`` and asked to ``save_pretrained(folder, tokenizer=...,
merge_lora=...)`` (LanguageModel, SFTModule and PreferenceAligner have it). The tokenizer is found, in order:
``--tokenizer``; ``tokenizer.json`` or ``tokenizer/`` in the run folder (one above ``checkpoints/``); the data
module's saved tokenizer inside the checkpoint; the data module's ``tokenizer`` / ``data_dir/tokenizer``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from litlab.shared.registry import load_registry


def _module_class(hparams: dict[str, Any], name: str | None) -> type:
    registry = load_registry()
    classes = {c.__name__: c for group in registry.modules.values() for c in group}
    classes.update({f"{c.__module__}.{c.__name__}": c for c in list(classes.values())})
    wanted = name or hparams.get("_class_path")
    if wanted is None:
        raise ValueError("the checkpoint does not name its module class (not written by `litlab fit`): pass "
                         f"--model_class, one of {sorted(n for n in classes if '.' not in n)}")  # fmt: skip
    short = str(wanted).rsplit(".", 1)[-1]
    cls = classes.get(str(wanted)) or classes.get(short)
    if cls is None:
        raise ValueError(f"module class {wanted!r} is not a registered litlab module ({sorted(classes)[:8]} ...)")
    return cls


def find_tokenizer(ckpt_path: Path, checkpoint: dict[str, Any]):
    """The run's tokenizer (a path, or a `tokenizers.Tokenizer` saved in the checkpoint), or None."""
    run = ckpt_path.resolve().parent.parent
    for candidate in (run / "tokenizer.json", run / "tokenizer"):
        if candidate.exists():
            return candidate
    for key, state in checkpoint.items():
        if isinstance(state, dict) and isinstance(state.get("tokenizer"), str) and key[:1].isupper():
            from tokenizers import Tokenizer

            return Tokenizer.from_str(state["tokenizer"])
    dm = checkpoint.get("datamodule_hyper_parameters") or {}
    if dm.get("tokenizer"):
        return Path(dm["tokenizer"])
    if dm.get("data_dir") and (Path(dm["data_dir"]) / "tokenizer").is_dir():
        return Path(dm["data_dir"]) / "tokenizer"
    return None


def export_checkpoint(ckpt: str | Path, out: str | Path, tokenizer: str | None = None, model_class: str | None = None,
                      merge_lora: bool = True, allow_no_tokenizer: bool = False) -> Path:  # fmt: skip
    """Rebuild the module of a checkpoint and write its model (and tokenizer) to `out`; returns `out`."""
    ckpt = Path(ckpt)
    if not ckpt.is_file():
        raise FileNotFoundError(f"--ckpt {str(ckpt)!r} is not a file (expected e.g. runs/<run>/checkpoints/last.ckpt)")
    checkpoint = torch.load(ckpt, map_location="cpu", weights_only=False)
    cls = _module_class(checkpoint.get("hyper_parameters") or {}, model_class)
    tok = tokenizer if tokenizer is not None else find_tokenizer(ckpt, checkpoint)
    if tok is None and not allow_no_tokenizer:
        raise FileNotFoundError(f"no tokenizer found for {str(ckpt)!r} (run folder, checkpoint, data module): pass "
                                "--tokenizer PATH, or --no_tokenizer to export the model alone")  # fmt: skip
    module = cls.load_from_checkpoint(ckpt, map_location="cpu", weights_only=False)
    save = getattr(module, "save_pretrained", None)
    if save is None:
        raise TypeError(f"{cls.__name__} has no save_pretrained: only language models and policies export")
    out = Path(out)
    save(out, tokenizer=tok, merge_lora=merge_lora)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="litlab export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--ckpt", required=True, help="Lightning checkpoint, e.g. runs/x/version_0/checkpoints/last.ckpt")
    p.add_argument("--out", required=True, help="output folder (config, safetensors, tokenizer, generation config)")
    p.add_argument("--tokenizer", default=None, help="tokenizer.json or tokenizer folder (default: found from the run)")
    p.add_argument("--model_class", default=None, help="module class when the checkpoint does not name it")
    p.add_argument("--adapters", action="store_true", help="LoRA policies: write the adapter alone (default: merged)")
    p.add_argument("--no_tokenizer", action="store_true", help="export the model without a tokenizer")
    args = p.parse_args(argv)
    out = export_checkpoint(args.ckpt, args.out, args.tokenizer, args.model_class, merge_lora=not args.adapters,
                            allow_no_tokenizer=args.no_tokenizer)  # fmt: skip
    print(f"litlab export: wrote {out} (load with AutoModelForCausalLM.from_pretrained({str(out)!r}))")
    return 0
