"""TextDataModule: every supported source format, the tokenizer paths, packing, caching and errors."""

import json
import os

import datasets
import numpy as np
import pytest
import torch

from litlab.attention import TextDataModule
from litlab.attention.data import PackedDataset, pack_documents, stdlib_files, train_bpe

DOCS = [f"def f{i}(x):\n    return x * {i} + {i * i}  # doc {i}\n" * (3 + i % 4) for i in range(12)]


def _dm(source, tmp_path, **kw):
    dm = TextDataModule(
        source, bpe_vocab_size=300, seq_len=16, batch_size=4, val_fraction=0.2, cache_dir=str(tmp_path / "cache"), **kw
    )
    dm.prepare_data()
    dm.setup("fit")
    return dm


def _check(dm):
    assert 257 < dm.vocab_size <= 300
    x = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 17) and x.dtype == torch.long and x.max() < dm.vocab_size
    assert len(dm.val_dataloader()) >= 1
    text = "".join(DOCS)
    assert dm.decode(dm.encode(DOCS[0])) == DOCS[0] and dm.encode(text)  # byte-level BPE is lossless


def test_glob_of_text_files(tmp_path):
    for i, doc in enumerate(DOCS):
        (tmp_path / f"doc{i}.txt").write_text(doc)
    _check(_dm(str(tmp_path / "*.txt"), tmp_path))


def test_jsonl_and_parquet_with_text_field(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps({"body": d, "id": i}) + "\n" for i, d in enumerate(DOCS)))
    _check(_dm(str(path), tmp_path, text_field="body"))
    datasets.Dataset.from_dict({"body": DOCS}).to_parquet(str(tmp_path / "data.parquet"))
    _check(_dm(str(tmp_path / "data.parquet"), tmp_path, text_field="body"))
    with pytest.raises(ValueError, match="no text field 'text'"):
        _dm(str(path), tmp_path)


def test_save_to_disk_folder_and_existing_tokenizer(tmp_path):
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": DOCS})}).save_to_disk(str(tmp_path / "ds"))
    dm = _dm(str(tmp_path / "ds"), tmp_path)
    _check(dm)
    dm.tokenizer.save(str(tmp_path / "tokenizer.json"))
    dm2 = _dm(str(tmp_path / "ds"), tmp_path, tokenizer=str(tmp_path / "tokenizer.json"))
    assert dm2.tokenizer.to_str() == dm.tokenizer.to_str()
    assert np.array_equal(dm2.train_tokens, dm.train_tokens)
    # another tokenizer (not the one cached for this source) must be the one used, and the tokens with it
    other = train_bpe(["lorem ipsum dolor sit amet"] * 20, 270)
    other.save(str(tmp_path / "other.json"))
    dm3 = _dm(str(tmp_path / "ds"), tmp_path, tokenizer=str(tmp_path / "other.json"))
    assert dm3.tokenizer.to_str() == other.to_str() and dm3.vocab_size == other.get_vocab_size() != dm.vocab_size
    assert dm3.decode(dm3.encode(DOCS[0])) == DOCS[0] and dm3.encode(DOCS[0]) != dm.encode(DOCS[0])
    assert len(dm3.train_tokens) > len(dm.train_tokens)  # fewer merges fit this corpus: longer stream


def test_tokenization_is_cached_and_split_is_disjoint(tmp_path):
    for i, doc in enumerate(DOCS):
        (tmp_path / f"doc{i}.txt").write_text(doc)
    dm = _dm(str(tmp_path / "*.txt"), tmp_path)
    cached = sorted(p for p in os.listdir(tmp_path / "cache") if p.startswith(("tokens-", "bpe-")))
    assert len(cached) == 4  # tokenizer + train + val + test token streams
    stamps = {p: os.path.getmtime(tmp_path / "cache" / p) for p in cached}
    dm2 = _dm(str(tmp_path / "*.txt"), tmp_path)
    assert {p: os.path.getmtime(tmp_path / "cache" / p) for p in cached} == stamps
    assert np.array_equal(dm.val_tokens, dm2.val_tokens)
    eos = dm.eos_token_id
    held_out = {
        dm.decode(d.tolist())
        for toks in (np.asarray(dm.val_tokens), np.asarray(dm.test_tokens))
        for d in np.split(toks, np.where(toks == eos)[0] + 1)
        if len(d)
    }
    train_text = dm.decode(np.asarray(dm.train_tokens).tolist())
    assert all(v.replace("<|endoftext|>", "") not in train_text for v in held_out)
    test_text = dm.decode(np.asarray(dm.test_tokens).tolist())
    assert test_text and test_text not in dm.decode(np.asarray(dm.val_tokens).tolist())


@pytest.mark.parametrize(
    "make,err,match",
    [
        (lambda p: str(p / "missing" / "*.txt"), FileNotFoundError, "matches no files"),
        (lambda p: str(p), FileNotFoundError, "pass a glob"),
        (lambda p: str(p / "empty.jsonl"), ValueError, "no non-empty documents"),
    ],
)
def test_missing_or_empty_source_errors(tmp_path, make, err, match):
    (tmp_path / "empty.jsonl").write_text(json.dumps({"text": ""}) + "\n" + json.dumps({"text": ""}) + "\n")
    with pytest.raises(err, match=match):
        _dm(make(tmp_path), tmp_path)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="val_fraction"):
        TextDataModule(val_fraction=1.5)
    with pytest.raises(FileNotFoundError, match="tokenizer"):
        TextDataModule(tokenizer=str(tmp_path / "nope.json"))
    with pytest.raises(ValueError, match="bpe_vocab_size"):
        TextDataModule(bpe_vocab_size=100)
    (tmp_path / "one.txt").write_text("only one short document")
    with pytest.raises(ValueError, match="test_fraction"):
        TextDataModule(val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="need >= 3 for a train/val/test split"):
        _dm(str(tmp_path / "one.txt"), tmp_path)


def test_stdlib_default_corpus(tmp_path):
    files = stdlib_files()
    assert len(files) > 100 and any(f.endswith("/os.py") for f in files)
    assert not any("/test/" in f or "site-packages" in f for f in files)
    dm = _dm("stdlib", tmp_path, max_documents=8)
    assert dm.vocab_size == 300 and len(dm.train_tokens) > 1000


def test_packing_windows_cover_the_stream():
    stream = pack_documents([[1, 2, 3], [4, 5]], eos=0, vocab_size=10)
    assert stream.tolist() == [1, 2, 3, 0, 4, 5, 0] and stream.dtype == np.uint16
    ds = PackedDataset(stream, seq_len=3)
    assert len(ds) == 2 and ds[0].tolist() == [1, 2, 3, 0] and ds[1].tolist() == [0, 4, 5, 0]
    with pytest.raises(IndexError):
        ds[2]
    assert train_bpe(["abc abc abd"] * 3, 260).get_vocab_size() <= 260
