"""Text data for language models: sources, byte-level BPE, packing and the `TextDataModule`."""

from litlab.attention.data.packing import PackedDataset, pack_documents
from litlab.attention.data.sources import load_texts, stdlib_files
from litlab.attention.data.text import TextDataModule
from litlab.attention.data.tokenizer import load_tokenizer, train_bpe

__all__ = [
    "PackedDataset",
    "TextDataModule",
    "load_texts",
    "load_tokenizer",
    "pack_documents",
    "stdlib_files",
    "train_bpe",
]
