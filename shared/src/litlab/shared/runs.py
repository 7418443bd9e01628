"""Run folders of the ``litlab`` command: ``<root>/<recipe>/version_<n>``, one per run, never shared.

- :func:`check_run_name` keeps ``--run_name`` a single folder name (``../x`` or ``a/b`` would write outside
  the runs root).
- :func:`claim_version` takes the next free ``version_<n>`` by creating it: ``mkdir`` either creates the
  folder or fails, so two runs started at the same moment never get the same folder.
- :func:`resumed_version` finds the run a ``--ckpt_path`` belongs to, so ``fit --ckpt_path
  runs/r/version_3/checkpoints/last.ckpt`` keeps logging to ``runs/r/version_3``.
- :func:`checkpoint_conflicts` lists the model arguments whose command-line value differs from the value
  a checkpoint stores (LightningCLI would silently take the checkpoint's).
- :class:`RunCSVLogger` appends to the run's ``metrics.csv`` (Lightning's deletes an existing one, so a
  resumed run would lose the rows of its first part).
- :class:`RunProgressBar` counts a resumed epoch right (Lightning's reads ``6/3`` after resuming at 3 of 6).
- :class:`SaveLastOnInterrupt` writes ``last.ckpt`` when a fit is interrupted (Ctrl-C).
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.trainer.states import TrainerFn

from litlab.shared.links import LINKED_SIZES

__all__ = [
    "check_run_name", "claim_version", "resumed_version", "checkpoint_conflicts", "RunCSVLogger",
    "RunProgressBar", "SaveLastOnInterrupt",
]  # fmt: skip

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_VERSION = re.compile(r"version_(\d+)")


def check_run_name(name: str, option: str = "--run_name") -> str:
    """``name`` if it is one plain folder name (letters, digits, ``._+-``, not starting with a dot)."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{option}: {name!r} is not a plain folder name (expected letters, digits, '.', '_', '+' or '-', "
            "not starting with '.' and without '/'; the run folder must stay inside the runs root)"
        )
    return name


def _versions(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    return [int(m.group(1)) for p in folder.iterdir() if (m := _VERSION.fullmatch(p.name))]


def claim_version(folder: Path, option: str = "--trainer.default_root_dir") -> int:
    """Create ``folder/version_<n>`` for the smallest ``n`` above every existing version; returns ``n``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{option}: cannot create the run folder {str(folder)!r} ({exc.strerror}); "
                         "expected a writable folder") from None  # fmt: skip
    version = max(_versions(folder), default=-1) + 1
    while True:
        try:
            (folder / f"version_{version}").mkdir()
            return version
        except FileExistsError:  # another run took it between the listing and the mkdir
            version += 1
        except OSError as exc:
            raise ValueError(f"{option}: cannot create a run folder in {str(folder)!r} ({exc.strerror}); "
                             "expected a writable folder") from None  # fmt: skip


def resumed_version(ckpt_path: str | os.PathLike | None, folder: Path) -> int | None:
    """``n`` when ``ckpt_path`` is ``folder/version_<n>/checkpoints/<file>`` (a checkpoint of that run)."""
    if not ckpt_path:
        return None
    path = Path(ckpt_path).resolve()
    run = path.parent.parent
    match = _VERSION.fullmatch(run.name)
    if path.parent.name != "checkpoints" or match is None or run.parent != folder.resolve():
        return None
    return int(match.group(1))


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if hasattr(value, "as_dict"):  # jsonargparse Namespace
        value = value.as_dict()
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}"))
        return out
    return {prefix: value}


def checkpoint_conflicts(given: Any, stored: Any, prefix: str = "model") -> list[str]:
    """``key: command line X, checkpoint Y`` for each model argument set on both sides to different values.

    ``given`` is the parsed model configuration before the checkpoint's hyper-parameters were applied,
    ``stored`` the one after. Keys only on one side (a link target, ``dict_kwargs``) are not conflicts, nor
    is a size linked from the data left unset on the command line (``links.LINKED_SIZES``: the link fills
    it and ``links.check_linked_sizes`` compares it with the data), nor a ``None`` the module stored in
    place of a value it consumed (an aligner stores its policy's ``checkpoint: null``: the weights are in
    its own checkpoint).
    """
    before, after = _flatten(given, prefix), _flatten(stored, prefix)
    linked = {f"{prefix}.init_args.{name}" for name in LINKED_SIZES}
    return [f"{k}: command line {before[k]!r}, checkpoint {after[k]!r}"
            for k in before if k in after and before[k] != after[k] and after[k] is not None
            and not (k in linked and before[k] is None)]  # fmt: skip


class SaveLastOnInterrupt(Callback):
    """On Ctrl-C during ``fit``, save ``last.ckpt`` where the checkpoint callback keeps it, then let Lightning exit.

    Lightning catches the ``KeyboardInterrupt``, calls ``on_exception`` and exits with code 1; without this
    the steps since the last scheduled checkpoint are lost. Resume with ``--ckpt_path <that file>``.
    """

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, KeyboardInterrupt) or trainer.state.fn != TrainerFn.FITTING:
            return
        checkpoint = trainer.checkpoint_callback
        if isinstance(checkpoint, ModelCheckpoint) and checkpoint.dirpath:
            path = Path(checkpoint.dirpath) / (ModelCheckpoint.CHECKPOINT_NAME_LAST + ModelCheckpoint.FILE_EXTENSION)
        else:
            path = Path(trainer.log_dir or trainer.default_root_dir) / "checkpoints" / "last.ckpt"
        trainer.save_checkpoint(str(path))
        if trainer.is_global_zero:
            print(f"litlab: interrupted at step {trainer.global_step}; saved {path} (resume with --ckpt_path {path})")


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing ``metrics.csv`` is continued, not deleted."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = sorted(next(csv.reader(file), []))


class RunCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` keeps the rows already in the run folder (see ``_AppendingWriter``)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


class RunProgressBar(RichProgressBar):
    """Rich progress bar whose epoch total counts the batches a resumed epoch had already run.

    The bar's position is the batch index within the epoch; Lightning's total under ``max_steps`` is the
    steps still to run, so an epoch resumed at batch 3 of 6 would read ``6/3``.
    """

    @property
    def total_train_batches(self) -> int | float:
        trainer = self.trainer
        if trainer.max_epochs == -1 and trainer.max_steps is not None and trainer.max_steps > 0:
            epoch_loop = trainer.fit_loop.epoch_loop
            done = epoch_loop.batch_progress.current.processed if epoch_loop.restarting else 0
            return min(trainer.num_training_batches, done + trainer.max_steps - trainer.global_step)
        return super().total_train_batches
