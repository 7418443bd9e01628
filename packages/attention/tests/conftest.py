"""Test setup for litlab.attention.

TRITON_INTERPRET=1 must be set before any Triton kernel module is imported (the @triton.jit decorator picks
interpreter or compiler when the function is defined), so it is set here, before any litlab import. The
ops' ``backend="auto"`` still picks Triton only for CUDA tensors; interpreter tests ask for
``backend="triton"`` explicitly.
"""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(autouse=True)
def _restore_environment():
    """Give every test the environment it started with: a LightningCLI run calls seed_everything, which sets
    PL_GLOBAL_SEED in os.environ; Lightning's distributed sampler takes that as its seed and spawned ranks
    inherit it, so a later multi-process test would otherwise shuffle its data differently."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
