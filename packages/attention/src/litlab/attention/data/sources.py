"""Text sources for `TextDataModule`, loaded with Hugging Face `datasets`.

Supported: the Python standard library's own .py files (the embedded default: a real corpus present
on every machine, found from the running interpreter), a glob of text files (one document per file),
JSON Lines / JSON / parquet files with a text field, and a folder written by `Dataset.save_to_disk`.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datasets

STDLIB = "stdlib"
_SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}


def stdlib_files() -> list[str]:
    """Sorted .py files of the running interpreter's standard library, without tests and site-packages."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        files += [os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".py")]
    if not files:
        raise FileNotFoundError(f"no .py files found in the standard library folder {root}")
    return files


def _is_saved_dataset(path: str) -> bool:
    return os.path.isdir(path) and (
        os.path.exists(os.path.join(path, "dataset_info.json"))
        or os.path.exists(os.path.join(path, "dataset_dict.json"))
        or os.path.exists(os.path.join(path, "state.json"))
    )


def _expand(source: str) -> list[str]:
    files = sorted(f for f in glob.glob(os.path.expanduser(source), recursive=True) if os.path.isfile(f))
    if not files:
        hint = " (a folder: pass a glob such as 'folder/**/*.txt')" if os.path.isdir(source) else ""
        raise FileNotFoundError(f"source {source!r} matches no files{hint}")
    return files


def source_signature(source: str) -> str:
    """A hash of the files behind a source (paths, sizes, modification times) for cache keys."""
    if _is_saved_dataset(source):
        files = sorted(str(p) for p in Path(source).rglob("*") if p.is_file())
    else:
        files = stdlib_files() if source == STDLIB else _expand(source)
    items = [(f, os.path.getsize(f), int(os.path.getmtime(f))) for f in files]
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]


def load_texts(source: str, text_field: str = "text", cache_dir: str | None = None) -> datasets.Dataset:
    """Load a source as a `datasets.Dataset` with one column "text" of non-empty documents."""
    import datasets  # imported here: it is heavy and only the data pipeline needs it

    if _is_saved_dataset(source):
        ds = datasets.load_from_disk(source)
        if isinstance(ds, datasets.DatasetDict):
            if "train" not in ds:
                raise ValueError(f"saved DatasetDict at {source!r} has splits {list(ds)}, expected a 'train' split")
            ds = ds["train"]
    else:
        files = stdlib_files() if source == STDLIB else _expand(source)
        ext = {Path(f).suffix.lower() for f in files}
        if ext <= {".jsonl", ".json"}:
            builder, kwargs = "json", {}
        elif ext == {".parquet"}:
            builder, kwargs = "parquet", {}
        elif ext & {".jsonl", ".json", ".parquet"}:
            raise ValueError(f"source {source!r} mixes file types {sorted(ext)}; use one format per source")
        else:
            builder, kwargs, text_field = "text", {"sample_by": "document"}, "text"
        ds = datasets.load_dataset(builder, data_files=files, split="train", cache_dir=cache_dir, **kwargs)
    if text_field not in ds.column_names:
        raise ValueError(f"source {source!r} has no text field {text_field!r}; columns are {ds.column_names}")
    ds = ds.select_columns([text_field])
    if text_field != "text":
        ds = ds.rename_column(text_field, "text")
    ds = ds.filter(lambda row: isinstance(row["text"], str) and len(row["text"]) > 0)
    if len(ds) == 0:
        raise ValueError(f"source {source!r} contains no non-empty documents in field {text_field!r}")
    return ds
