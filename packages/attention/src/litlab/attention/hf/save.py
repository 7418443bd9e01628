"""Write a litlab `CausalLM` as a transformers folder that loads offline:

    AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)   # config.json, model.safetensors,
    AutoTokenizer.from_pretrained(folder, local_files_only=True)          # generation_config.json, tokenizer

The weights are written by transformers itself (`save_pretrained` of the converted model), so the folder has
exactly the layout the installed transformers reads. The tokenizer may be a `tokenizers.Tokenizer` (litlab's
byte-level BPE), a transformers tokenizer, a tokenizer.json file or a tokenizer folder.
"""

from __future__ import annotations

from pathlib import Path

from litlab.attention.data.tokenizer import eos_id
from litlab.attention.hf.convert import to_hf_model


def hf_tokenizer(tokenizer, eos_token: str | None = None):
    """A transformers fast tokenizer from any of the accepted tokenizer forms (EOS set, pad = EOS if missing)."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

    if isinstance(tokenizer, PreTrainedTokenizerBase):
        return tokenizer
    if isinstance(tokenizer, (str, Path)):
        path = Path(tokenizer)
        if path.is_dir():
            return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer {str(path)!r} is neither a tokenizer.json file nor a tokenizer folder")
        tokenizer = Tokenizer.from_file(str(path))
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"tokenizer must be a tokenizers.Tokenizer, a transformers tokenizer or a path, got "
                        f"{type(tokenizer).__name__}")  # fmt: skip
    eos = tokenizer.id_to_token(eos_id(tokenizer, eos_token))
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=eos, pad_token=eos)


def save_pretrained(model, folder: str | Path, tokenizer=None, eos_token: str | None = None,
                    arch: str | None = None, **config_kwargs) -> Path:  # fmt: skip
    """Write `model` (a litlab CausalLM) and its tokenizer to `folder`; returns the folder.

    Args:
        model: the litlab model (refused with a message naming the option if transformers cannot match it).
        folder: output folder (created).
        tokenizer: the model's tokenizer (see the module docstring); None writes the model alone.
        eos_token: the tokenizer's end-of-text token when it is not a usual one (<|endoftext|>, </s>, ...).
        arch: "minimax" or "llama" (None: picked from the model).
        config_kwargs: extra transformers config fields.
    """
    from transformers import GenerationConfig

    tok = None if tokenizer is None else hf_tokenizer(tokenizer, eos_token)
    if tok is not None:
        if len(tok) > model.vocab_size:
            raise ValueError(f"the tokenizer has {len(tok)} tokens but the model's vocab_size is {model.vocab_size}")
        ids = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id,
               "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id}  # fmt: skip
        config_kwargs = {**ids, **config_kwargs}
    hf = to_hf_model(model, arch, **config_kwargs)
    hf.generation_config = GenerationConfig(
        bos_token_id=hf.config.bos_token_id, eos_token_id=hf.config.eos_token_id, pad_token_id=hf.config.pad_token_id
    )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    hf.save_pretrained(folder)
    if tok is not None:
        tok.save_pretrained(folder)
    return folder
