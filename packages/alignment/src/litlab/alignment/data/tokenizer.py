"""The task tokenizer: a byte-level BPE whose digits are single tokens, saved as a Hugging Face folder.

EOS is `<|endoftext|>`, padding `<|pad|>` (pad != eos); `<|im_start|>` / `<|im_end|>` exist for
chat templates. Saved with `PreTrainedTokenizerFast.save_pretrained`, so the data module loads litlab's
tokenizer and a Hugging Face model's tokenizer the same way (`AutoTokenizer`, local files only).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

SPECIAL = {"pad_token": "<|pad|>", "eos_token": "<|endoftext|>"}
CHAT_TOKENS = ["<|im_start|>", "<|im_end|>"]


def train_task_tokenizer(texts: Iterable[str], out_dir: str | Path, vocab_size: int = 384) -> Path:
    """Train a byte-level BPE (digits split one per token) on texts and save it into out_dir."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[SPECIAL["pad_token"], SPECIAL["eos_token"], *CHAT_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL, additional_special_tokens=CHAT_TOKENS)
    out = Path(out_dir)
    fast.save_pretrained(out)
    return out


def load_tokenizer(path: str | Path):
    """AutoTokenizer from a local folder (never downloads); a clear error if it is not one."""
    from transformers import AutoTokenizer

    if not Path(path).is_dir():
        raise FileNotFoundError(f"tokenizer must be a local folder with tokenizer files, got {str(path)!r}")
    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as err:  # transformers raises several types for unreadable folders
        raise ValueError(f"tokenizer folder {str(path)!r} could not be loaded: {err}") from err


def tokenizer_ids(tok, folder: str, pad_token: str | None, eos_tokens: list[str] | None) -> tuple[set[int], int]:
    """(EOS id set, pad id) of a tokenizer: its EOS, extra end-of-turn tokens and generation_config's ids."""
    if tok.eos_token_id is None:
        raise ValueError(f"tokenizer {folder!r} has no EOS token")
    if pad_token is not None:
        if pad_token not in tok.get_vocab():
            raise ValueError(f"pad_token {pad_token!r} is not a token of the tokenizer {folder!r}")
        tok.pad_token = pad_token
    if tok.pad_token_id is None:
        raise ValueError(f"tokenizer {folder!r} has no pad token; set pad_token to a token distinct from EOS")
    eos = {tok.eos_token_id}
    for name in eos_tokens or []:
        if name not in tok.get_vocab():
            raise ValueError(f"eos_tokens entry {name!r} is not a token of the tokenizer {folder!r}")
        eos.add(tok.convert_tokens_to_ids(name))
    gen = Path(folder) / "generation_config.json"
    if gen.exists():
        ids = json.loads(gen.read_text()).get("eos_token_id")
        eos.update([ids] if isinstance(ids, int) else ids or [])
    if tok.pad_token_id in eos:
        raise ValueError(f"pad token {tok.pad_token!r} is an EOS token: padding must differ from EOS")
    return eos, tok.pad_token_id
