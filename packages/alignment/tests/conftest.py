"""Shared fixtures: a small synthetic task folder with its trained tokenizer (built once per session)."""

import pytest

from litlab.alignment.data.synthetic import ArithmeticTask, write
from litlab.alignment.data.tokenizer import train_task_tokenizer

SMALL_TASK = dict(n_train=48, n_val=8, n_eval=6)


@pytest.fixture(scope="session")
def task_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("arith")
    paths = write(ArithmeticTask(**SMALL_TASK), root)
    import json

    texts = []
    for p in paths.values():
        for line in open(p):
            r = json.loads(line)
            texts.append(r["prompt"] + r.get("chosen", "") + r.get("rejected", ""))
    train_task_tokenizer(texts, root / "tokenizer")
    return root


@pytest.fixture(scope="session")
def tokenizer(task_dir):
    from litlab.alignment.data.tokenizer import load_tokenizer

    return load_tokenizer(task_dir / "tokenizer")
