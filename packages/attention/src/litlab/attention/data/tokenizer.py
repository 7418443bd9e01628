"""Byte-level BPE tokenizers (GPT-2, Radford et al. 2019, Sec. 2.2; Sennrich et al., arXiv 1508.07909)
trained with Hugging Face `tokenizers`, or loaded from an existing tokenizer.json."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

EOS = "<|endoftext|>"
_EOS_CANDIDATES = (EOS, "</s>", "<|end_of_text|>", "<eos>", "<|eos|>")


def train_bpe(texts: Iterable[str], vocab_size: int, length: int | None = None) -> Tokenizer:
    """Train a byte-level BPE with `vocab_size` tokens (256 byte symbols + merges + the EOS token)."""
    if vocab_size < 258:
        raise ValueError(f"vocab_size must be >= 258 (256 bytes + EOS + 1 merge), got {vocab_size}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer, length=length)
    return tok


def load_tokenizer(path: str) -> Tokenizer:
    """Load a tokenizer.json (e.g. from a Hugging Face model folder)."""
    try:
        return Tokenizer.from_file(path)
    except Exception as err:  # tokenizers raises a bare Exception on missing / malformed files
        raise ValueError(f"tokenizer {path!r} could not be loaded as a tokenizer.json: {err}") from err


def eos_id(tok: Tokenizer, eos_token: str | None = None) -> int:
    """Id of the end-of-text token that separates packed documents."""
    names = (eos_token,) if eos_token else _EOS_CANDIDATES
    for name in names:
        idx = tok.token_to_id(name)
        if idx is not None:
            return idx
    raise ValueError(f"tokenizer has none of the end-of-text tokens {names}; set eos_token to one of its tokens")
