"""Lazy public names for a package ``__init__`` (PEP 562 module ``__getattr__`` and ``__dir__``).

A member package lists its public names and the submodule defining each; a name's submodule is imported on
first access only, so importing one light submodule (``litlab.attention.ops``) does not import the heavy
ones (the language-model and data stack) through the package ``__init__``::

    __all__, __getattr__, __dir__ = lazy_exports(__name__, globals(), {"Backbone": "litlab.attention.models"})

This module imports nothing beyond the standard library (the GPU scripts run the kernels without the CLI's
dependencies).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, namespace: dict[str, Any], exports: dict[str, str]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` for ``package`` whose public names are the keys of ``exports``.

    ``exports`` maps each public name to the absolute name of the submodule that defines it. A resolved
    name is stored in ``namespace`` (the package's ``globals()``), so later lookups skip ``__getattr__``.
    """
    names = sorted(exports)

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}; public names: {names}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return names, __getattr__, __dir__
