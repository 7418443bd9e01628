"""Sizes that come from the data, linked from the DataModule to the model (LightningCLI ``link_arguments``).

A DataModule that knows a size (its tokenizer's vocabulary, its observation and action sizes, its
observation/action groups) exposes it as an attribute named like the model's argument; the ``litlab``
command links ``data.<name>`` to ``model.init_args.<name>`` with ``apply_on="instantiate"``: the
DataModule is built first and the model receives its value. The link is skipped where the DataModule has
no such attribute (a model that makes its own data, a DataModule that does not know the size); a model
argument without a default then fails at once, naming the missing argument.

A value written by hand in a recipe or on the command line must agree with the data's: a disagreement is
an error that names both (``check_linked_sizes``), never a silent override. ``--print_config`` shows the
linked values (``linked_config``), which requires building the DataModule (for a text corpus: its
tokenizer).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

#: Model arguments that a DataModule may provide under the same name.
LINKED_SIZES: tuple[str, ...] = ("vocab_size", "obs_dim", "action_dim", "groups")


def add_size_links(parser) -> None:
    """Link every name of `LINKED_SIZES` from the instantiated DataModule to the model's init_args."""
    for name in LINKED_SIZES:
        parser.link_arguments(f"data.{name}", f"model.init_args.{name}", apply_on="instantiate")


def _import(class_path: str) -> type:
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def model_parameters(class_path: str | None) -> dict[str, inspect.Parameter]:
    """Init parameters of the model class named by `class_path` (empty if it cannot be imported)."""
    if not class_path:
        return {}
    try:
        return dict(inspect.signature(_import(class_path).__init__).parameters)
    except (ImportError, AttributeError, ValueError, TypeError):
        return {}


def given_sizes(model_cfg: Any) -> dict[str, Any]:
    """The linked names that the parsed model config sets to something other than the class default."""
    if model_cfg is None or not hasattr(model_cfg, "get"):
        return {}
    params = model_parameters(model_cfg.get("class_path"))
    init_args = model_cfg.get("init_args") or {}
    out = {}
    for name in LINKED_SIZES:
        if name not in params:
            continue
        value = init_args.get(name) if hasattr(init_args, "get") else None
        default = params[name].default
        if value is not None and (default is inspect.Parameter.empty or value != default):
            out[name] = value
    return out


def check_missing_links(model_cfg: Any, data_cfg: Any) -> None:
    """Refuse, before anything is built, a required linked argument that nobody provides: not set by hand,
    and no DataModule class with an attribute of that name."""
    if model_cfg is None or not hasattr(model_cfg, "get"):
        return
    params = model_parameters(model_cfg.get("class_path"))
    init_args = model_cfg.get("init_args") or {}
    data_path = data_cfg.get("class_path") if data_cfg is not None and hasattr(data_cfg, "get") else None
    data_class = _import(data_path) if data_path else None
    for name in LINKED_SIZES:
        if name not in params or params[name].default is not inspect.Parameter.empty:
            continue
        given = init_args.get(name) if hasattr(init_args, "get") else None
        if given is None and not hasattr(data_class, name):
            source = f"the DataModule {data_class.__name__}" if data_class is not None else "no DataModule"
            raise ValueError(f"model.init_args.{name} is required and linked from the data, but {source} has no "
                             f"`{name}`; use a DataModule that provides it or set it by hand")  # fmt: skip


def data_sizes(datamodule: Any, model_class_path: str | None) -> dict[str, Any]:
    """The linked names that `datamodule` provides and the model class accepts, with their values."""
    if datamodule is None:
        return {}
    params = model_parameters(model_class_path)
    return {n: getattr(datamodule, n) for n in LINKED_SIZES if n in params and hasattr(datamodule, n)}


def _plain(value: Any) -> Any:
    return {k: _plain(v) for k, v in value.items()} if isinstance(value, dict) else value


def check_linked_sizes(given: dict[str, Any], datamodule: Any, model_class_path: str | None) -> None:
    """Refuse a hand-set size that disagrees with the data's (the link would otherwise replace it)."""
    for name, actual in data_sizes(datamodule, model_class_path).items():
        if name in given and _plain(given[name]) != _plain(actual):
            raise ValueError(
                f"model.init_args.{name}={given[name]!r} disagrees with the data: {type(datamodule).__name__}.{name} "
                f"= {actual!r}. It is linked from the DataModule; remove it from the recipe and the command line."
            )


def linked_config(cfg: Any, datamodule: Any) -> Any:
    """A copy of the parsed config whose model init_args carry the data's linked sizes (for printing)."""
    out = cfg.clone()
    model = out.get("model")
    sizes = data_sizes(datamodule, model.get("class_path") if model is not None else None)
    for name, value in sizes.items():
        out[f"model.init_args.{name}"] = _plain(value)
    return out
