"""Discovery of the LightningModules and DataModules that installed litlab members provide.

Each member distribution declares an entry point in the group ``litlab.modules`` whose value is the
module that exports its public classes (``litlab.attention``, ``litlab.rl``, ...). Importing those
modules is what lets LightningCLI resolve short class names (``class_path: LanguageModel``) and list
them in ``--help``.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType

from lightning.pytorch import LightningDataModule, LightningModule

ENTRY_POINT_GROUP = "litlab.modules"


@dataclass
class Registry:
    """What the installed members export, by member name."""

    modules: dict[str, list[type[LightningModule]]] = field(default_factory=dict)
    datamodules: dict[str, list[type[LightningDataModule]]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """A plain-text listing for ``--help``: one line per member."""
        lines = ["Registered classes (use the short name as class_path):"]
        for member in sorted(set(self.modules) | set(self.datamodules)):
            models = ", ".join(c.__name__ for c in self.modules.get(member, [])) or "-"
            datas = ", ".join(c.__name__ for c in self.datamodules.get(member, [])) or "-"
            lines.append(f"  {member}: models: {models}; data: {datas}")
        for member, why in sorted(self.failed.items()):
            lines.append(f"  {member}: not importable ({why})")
        if len(lines) == 1:
            lines.append("  (no litlab member with modules is installed)")
        return "\n".join(lines)


def _public_classes(module: ModuleType, base: type) -> list[type]:
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    found = []
    for name in names:
        obj = getattr(module, name, None)
        if inspect.isclass(obj) and issubclass(obj, base) and obj is not base:
            found.append(obj)
    return found


def load_registry() -> Registry:
    """Import every member registered under ``litlab.modules`` and collect its classes.

    A member that fails to import is reported in ``--help`` and warned about, not fatal: the other
    members stay usable.
    """
    registry = Registry()
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            module = importlib.import_module(ep.value)
        except Exception as exc:  # noqa: BLE001 - report any import failure of a member, keep the rest
            registry.failed[ep.name] = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"litlab member {ep.name!r} ({ep.value}) failed to import: {exc}", stacklevel=2)
            continue
        registry.modules[ep.name] = _public_classes(module, LightningModule)
        registry.datamodules[ep.name] = _public_classes(module, LightningDataModule)
    return registry
