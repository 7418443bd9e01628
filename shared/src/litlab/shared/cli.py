"""The ``litlab`` command: one LightningCLI for every installed litlab member.

    litlab {fit,validate,test,predict} --config a.yaml --config b.yaml [--model.init_args.x=...]
    litlab export --ckpt runs/<run>/version_0/checkpoints/last.ckpt --out folder   (see ``export``)

Models and data modules are chosen by ``class_path`` (subclass mode); short names resolve because every
member registers its module under the ``litlab.modules`` entry point group (see ``registry``). A model
that makes its own data (an RL agent stepping environments) runs without a ``data`` section.

Defaults added here, each overridable from a config:
- a Rich progress bar and a ``ModelCheckpoint`` that keeps ``last.ckpt`` (resume with ``--ckpt_path``),
- TensorBoard and CSV loggers writing to ``runs/<recipe>/version_<n>`` (``--run_name`` sets the recipe
  name, otherwise the stem of the last non-trainer ``--config``), with the resolved ``config.yaml``,
- ``seed_everything: 42``.
With ``--trainer.logger=false`` the run folder is still ``runs/<recipe>/version_<n>`` (``default_root_dir``).

Sizes that come from the data (vocabulary, observation/action sizes, groups) are linked from the
DataModule to the model (see ``links``); ``--print_config`` builds the DataModule to show them.

Configuration and set-up errors end in one ``litlab: error: ...`` line and exit code 1 (parse errors,
which jsonargparse reports, exit with 2); set ``LITLAB_DEBUG=1`` to see the full traceback.
"""

from __future__ import annotations

import copy
import os
import pickle
import re
import sys
import warnings
from argparse import RawDescriptionHelpFormatter
from pathlib import Path
from typing import Any, NoReturn

import yaml
from jsonargparse import DefaultHelpFormatter, get_loader, set_loader
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from litlab.shared.errors import unwrap_union_error
from litlab.shared.links import (
    add_size_links,
    check_linked_sizes,
    check_missing_links,
    given_sizes,
    linked_config,
)
from litlab.shared.registry import Registry, load_registry
from litlab.shared.results import RunResultsWriter
from litlab.shared.runs import (
    RunCSVLogger,
    RunProgressBar,
    SaveLastOnInterrupt,
    check_run_name,
    checkpoint_conflicts,
    claim_version,
    resumed_version,
)

# The CSV logger shares the TensorBoard logger's version folder on purpose (one folder per run).
warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not empty")


class _HelpFormatter(RawDescriptionHelpFormatter, DefaultHelpFormatter):
    """Keeps the line breaks of the registered-classes listing in ``--help``."""


_NOISE = re.compile(
    r"Expected a <class 'NoneType'>|Given value type:|Given value: NestedArg|"
    r"Does not validate against any of the Union subtypes|Subtypes: \["
)


class LitlabArgumentParser(LightningArgumentParser):
    """Reports a configuration error in a few lines (no usage wall) and exits with code 2."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not self.exit_on_error:
            super().error(message, ex)
        parser = getattr(ex, "subcommand_parser", None) or self
        prog = parser.prog.replace(" [options]", "")
        lines = [line for line in message.splitlines() if not _NOISE.search(line)]
        sys.stderr.write("litlab: error: " + "\n".join(lines) + "\n")
        sys.stderr.write(f"litlab: run `{prog} --help` for the accepted options.\n")
        raise SystemExit(2)


_YAML_LOAD = get_loader("yaml")


def _load_value(text: str) -> Any:
    """YAML, except that a bare ``None`` also means null.

    jsonargparse forwards an override two ``init_args`` deep (``--model.init_args.objective.init_args.x=null``)
    as ``--x=None``, the Python rendering of the null it already parsed, which YAML reads as the string
    "None"; without this the override fails on a ``float | None`` argument.
    """
    return None if text.strip() == "None" else _YAML_LOAD(text)


set_loader("litlab", _load_value, (yaml.YAMLError,))

USER_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, NotADirectoryError, ImportError,
               PermissionError, MisconfigurationException)  # fmt: skip


class LitlabCLI(LightningCLI):
    """LightningCLI with litlab's defaults (loggers, checkpointing, progress bar, run naming)."""

    def __init__(self, *args: Any, registry: Registry | None = None, **kwargs: Any) -> None:
        self.registry = registry if registry is not None else load_registry()
        listing = self.registry.describe()
        parser_kwargs = kwargs.pop("parser_kwargs", {}) or {}
        parser_kwargs.setdefault("formatter_class", _HelpFormatter)
        parser_kwargs.setdefault("parser_mode", "litlab")
        parser_kwargs.setdefault("allow_abbrev", False)  # --trainer.max_s=2 is an error, not --trainer.max_steps
        parser_kwargs.setdefault("description", "litlab: train litlab models from composed configs.\n\n" + listing)
        for sub in ("fit", "validate", "test", "predict"):
            sub_kwargs = parser_kwargs.setdefault(sub, {})
            sub_kwargs.setdefault("epilog", listing)
            sub_kwargs.setdefault("formatter_class", _HelpFormatter)
            sub_kwargs.setdefault("parser_mode", "litlab")
            sub_kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("parser_class", LitlabArgumentParser)
        kwargs.setdefault("seed_everything_default", 42)
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        super().__init__(*args, parser_kwargs=parser_kwargs, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--run_name",
            type=str | None,
            default=None,
            help="Name of the run folder under runs/ (default: stem of the last non-trainer --config).",
        )
        add_size_links(parser)

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """As LightningCLI's, except that ``--print_config`` prints the config with the sizes linked from
        the data (the DataModule is built for it), then exits."""
        argv = list(sys.argv[1:] if args is None else args) if not isinstance(args, dict) else None
        flags = [a for a in argv or [] if a == "--print_config" or a.startswith("--print_config=")]
        if not flags:
            return super().parse_arguments(parser, args)
        super().parse_arguments(parser, [a for a in argv if a not in flags])
        sub = self.config.get("subcommand")
        cfg = self.config[sub] if sub else self.config
        init = parser._subcommands_action._name_parser_map[sub] if sub else parser
        data = init.instantiate_classes(cfg.clone()).get("data") if cfg.get("data") is not None else None
        print(init.dump(linked_config(cfg, data), skip_unset=False, skip_link_targets=False), end="")
        raise SystemExit(0)

    def instantiate_classes(self) -> None:
        """As LightningCLI's, refusing a hand-set size that disagrees with the data's before the trainer."""
        cfg = self.config.get(str(self.subcommand), self.config)
        given, model = given_sizes(cfg.get("model")), cfg.get("model")
        check_missing_links(model, cfg.get("data"))
        self.config_init = self.parser.instantiate_classes(self.config)
        self.datamodule = self._get(self.config_init, "data")
        self.model = self._get(self.config_init, "model")
        check_linked_sizes(given, self.datamodule, model.get("class_path") if model is not None else None)
        self._add_configure_optimizers_method_to_model(self.subcommand)
        self.trainer = self.instantiate_trainer()

    def _recipe_name(self) -> str:
        cfg = self.config.get(str(self.subcommand), self.config)
        if cfg.get("run_name"):
            return check_run_name(str(cfg["run_name"]))
        paths = [Path(str(p)) for p in (cfg.get("config") or [])]
        recipes = [p for p in paths if p.parent.name != "trainer"]
        if recipes:
            return recipes[-1].stem
        model = cfg.get("model")
        class_path = getattr(model, "class_path", None) or "run"
        return class_path.rsplit(".", 1)[-1].lower()

    def _default_loggers(self, config: dict[str, Any]) -> list[Any]:
        root = Path(config.get("default_root_dir") or "runs")
        name = self._recipe_name()
        version = self._run_version(root / name)
        return [
            TensorBoardLogger(save_dir=str(root), name=name, version=version, default_hp_metric=False),
            RunCSVLogger(save_dir=str(root), name=name, version=version),
        ]

    def _run_version(self, folder: Path) -> int:
        """The version folder of this run: the checkpoint's own run when ``fit`` resumes, else a new one."""
        cfg = self.config.get(str(self.subcommand), self.config)
        ckpt_path = cfg.get("ckpt_path")
        if self.subcommand == "fit" and (version := resumed_version(ckpt_path, folder)) is not None:
            print(f"litlab: resuming {ckpt_path}; logging on in {folder / f'version_{version}'}", file=sys.stderr)
            return version
        version = claim_version(folder)
        if self.subcommand == "fit" and ckpt_path:
            print(f"litlab: resuming {ckpt_path} (not in {folder}); logging to {folder / f'version_{version}'}",
                  file=sys.stderr)  # fmt: skip
        return version

    def _parse_ckpt_path(self) -> None:
        """LightningCLI applies --ckpt_path's hyper-parameters over the command line's model arguments.

        Here a checkpoint of another module class, or one whose stored arguments differ from those given,
        is refused (naming the keys); a damaged file ends in one clear error.
        """
        sub = self.config.get("subcommand")
        given = copy.deepcopy(self.config[sub].get("model")) if sub else None
        try:
            super()._parse_ckpt_path()
        except FileNotFoundError:
            raise
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            raise ValueError(
                "--ckpt_path: the checkpoint cannot be read (truncated or not a checkpoint): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        stored = self.config[sub].get("model") if sub else None
        if given is None or stored is None:
            return
        ckpt = self.config[sub].get("ckpt_path")
        if getattr(given, "class_path", None) != getattr(stored, "class_path", None):
            raise ValueError(f"--ckpt_path: {ckpt} is a checkpoint of {stored.class_path}, but the model given is "
                             f"{given.class_path} (expected a checkpoint of the same module class)")  # fmt: skip
        conflicts = checkpoint_conflicts(given, stored)
        if conflicts:
            raise ValueError(f"--ckpt_path: {ckpt} was trained with other model arguments than those given ("
                             + "; ".join(conflicts) + "); drop these arguments to use the checkpoint's, "
                             "or start a new fit")  # fmt: skip

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        config = {**self._get(self.config_init, "trainer", default={}), **kwargs}
        if config.get("logger") in (None, True):
            config["logger"] = self._default_loggers(config)
        elif config.get("logger") is False and not config.get("default_root_dir"):
            # without a logger Lightning's log_dir is default_root_dir (the current directory): config.yaml,
            # tokenizers and checkpoints go to the run folder instead
            folder = Path("runs") / self._recipe_name()
            config["default_root_dir"] = str(folder / f"version_{self._run_version(folder)}")
        extra: list[Callback] = [self._get(self.config_init, c) for c in self._parser(self.subcommand).callback_keys]
        given = list(config.get("callbacks") or [])
        if config.get("enable_progress_bar", True) is not False and not any(isinstance(c, ProgressBar) for c in given):
            extra.append(RunProgressBar())
        if config.get("enable_checkpointing", True) is not False and not any(
            isinstance(c, ModelCheckpoint) for c in given
        ):
            extra.append(ModelCheckpoint(save_last=True))
        if not any(isinstance(c, RunResultsWriter) for c in given):
            extra.append(RunResultsWriter())  # test_metrics.json / predictions.jsonl in the run folder
        extra.append(SaveLastOnInterrupt())  # Ctrl-C during fit writes last.ckpt
        return self._instantiate_trainer(config, extra)


def _print_error(exc: BaseException) -> None:
    print(f"litlab: error: {type(exc).__name__}: {exc}", file=sys.stderr)
    print("litlab: set LITLAB_DEBUG=1 to see the full traceback.", file=sys.stderr)


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``litlab`` console script; returns 0 on success.

    Inside Python (tests), ``main([...])`` raises ``SystemExit`` with a non-zero code on error, exactly as
    the command does.
    """
    debug = os.environ.get("LITLAB_DEBUG", "") not in ("", "0")
    argv = sys.argv[1:] if args is None else list(args)
    try:
        if argv[:1] == ["export"]:  # checkpoint -> transformers folder (not a LightningCLI subcommand)
            from litlab.shared.export import main as export_main

            return export_main(argv[1:])
        LitlabCLI(args=None if args is None else list(args))
    except USER_ERRORS as exc:
        if debug:
            raise
        _print_error(unwrap_union_error(exc))
        raise SystemExit(1) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
