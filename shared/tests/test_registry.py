"""Registration of installed members and the run-folder naming of the CLI."""

from __future__ import annotations

import types
from pathlib import Path

from lightning.pytorch import LightningDataModule, LightningModule

from litlab.shared.registry import Registry, _public_classes, load_registry
from litlab.shared.runs import claim_version


class _Model(LightningModule):
    pass


class _Data(LightningDataModule):
    pass


def test_public_classes_follow_all_and_skip_the_base() -> None:
    module = types.ModuleType("fake")
    module.__all__ = ["_Model", "LightningModule", "helper"]
    module._Model, module.LightningModule, module.helper = _Model, LightningModule, len
    module._Data = _Data
    assert _public_classes(module, LightningModule) == [_Model]
    assert _public_classes(module, LightningDataModule) == []  # not listed in __all__


def test_every_member_is_registered() -> None:
    registry = load_registry()
    assert not registry.failed
    assert {"attention", "alignment", "rl", "robotics"} <= set(registry.modules)


def test_describe_lists_members_and_failures() -> None:
    registry = Registry(modules={"a": [_Model]}, datamodules={"a": [_Data]}, failed={"b": "ImportError: x"})
    text = registry.describe()
    assert "  a: models: _Model; data: _Data" in text
    assert "  b: not importable (ImportError: x)" in text


def test_claim_version_counts_up_and_ignores_other_folders(tmp_path: Path) -> None:
    assert claim_version(tmp_path / "missing") == 0 and (tmp_path / "missing" / "version_0").is_dir()
    for name in ("version_0", "version_3", "version_x", "notes"):
        (tmp_path / name).mkdir()
    assert claim_version(tmp_path) == 4 and (tmp_path / "version_4").is_dir()
    assert claim_version(tmp_path) == 5  # the folder just claimed is taken
