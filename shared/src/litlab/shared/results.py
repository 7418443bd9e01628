"""What ``litlab test`` and ``litlab predict`` leave in the run folder, the same way for every module.

Convention (every LightningModule of every member follows it):

- ``test_step`` logs its metrics under ``test/`` (``self.log("test/loss", ...)``); Lightning prints them as
  its test table and :class:`RunResultsWriter` writes them to ``<run>/test_metrics.json``.
- ``predict_step`` returns a list of JSON-serialisable dicts, one per prompt / episode / example;
  :class:`RunResultsWriter` appends them to ``<run>/predictions.jsonl`` as the batches finish.
- Prompt files for generation are read with :func:`read_prompts` (JSONL rows with a ``prompt`` field, or
  plain text with one prompt per line).

``<run>`` is the trainer's log folder (``runs/<recipe>/version_<n>``, next to ``config.yaml``). The ``litlab``
command adds the writer to every trainer; add it yourself to a ``Trainer`` built by hand.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

TEST_METRICS_FILE = "test_metrics.json"
PREDICTIONS_FILE = "predictions.jsonl"


def run_folder(trainer: Trainer) -> Path:
    """The folder a run writes its results to (the first logger's version folder, else the root dir)."""
    return Path(trainer.log_dir or trainer.default_root_dir)


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a metric or prediction value (tensors and numpy scalars become numbers)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN / inf: keep them visible as "nan" / "inf"
    return value


class RunResultsWriter(Callback):
    """Writes ``test_metrics.json`` at the end of ``test`` and ``predictions.jsonl`` during ``predict``."""

    def __init__(self, verbose: bool = True) -> None:
        self.verbose = verbose
        self._predictions: Path | None = None
        self._rows = 0

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        metrics = {k: _plain(v) for k, v in sorted(trainer.callback_metrics.items()) if k.startswith("test")}
        folder = run_folder(trainer)
        folder.mkdir(parents=True, exist_ok=True)
        record = {"module": type(pl_module).__name__, "ckpt_path": _ckpt(trainer), "metrics": metrics}
        (folder / TEST_METRICS_FILE).write_text(json.dumps(record, indent=1) + "\n")
        if self.verbose:
            print(f"litlab: test metrics written to {folder / TEST_METRICS_FILE}")

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        folder = run_folder(trainer)
        folder.mkdir(parents=True, exist_ok=True)
        self._predictions, self._rows = folder / PREDICTIONS_FILE, 0
        self._predictions.write_text("")

    def on_predict_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, *args: Any) -> None:
        if self._predictions is None or outputs is None:
            return
        rows = outputs if isinstance(outputs, list) else [outputs]
        if not all(isinstance(r, dict) for r in rows):
            raise TypeError(
                f"{type(pl_module).__name__}.predict_step must return a list of dicts (one per row) for "
                f"{PREDICTIONS_FILE}, got {type(outputs).__name__}"
            )
        with open(self._predictions, "a") as f:
            f.writelines(json.dumps(_plain(r)) + "\n" for r in rows)
        self._rows += len(rows)

    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._predictions is not None and self.verbose:
            print(f"litlab: {self._rows} predictions written to {self._predictions}")
        self._predictions = None


def _ckpt(trainer: Trainer) -> str | None:
    path = getattr(trainer, "ckpt_path", None)
    return None if path is None else str(path)


def read_prompts(path: str | Path, field: str = "prompt") -> list[str]:
    """Prompts from a file: JSONL (``.jsonl``/``.json`` rows with ``field``) or text, one prompt per line.

    Blank lines are skipped. In text files ``\\n`` inside a line stands for a newline (so a prompt ending in a
    newline fits on one line). Raises ``FileNotFoundError`` / ``ValueError`` naming the file and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompts file {str(path)!r} does not exist (expected JSONL rows or text lines)")
    prompts = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        if path.suffix in (".jsonl", ".json"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"prompts file {str(path)!r} line {number}: not JSON ({exc})") from None
            if not isinstance(row, dict) or not isinstance(row.get(field), str):
                raise ValueError(f"prompts file {str(path)!r} line {number}: expected an object with a string "
                                 f"{field!r} field, got {line[:80]!r}")  # fmt: skip
            prompts.append(row[field])
        else:
            prompts.append(line.replace("\\n", "\n"))
    if not prompts:
        raise ValueError(f"prompts file {str(path)!r} holds no prompt (expected JSONL rows or text lines)")
    return prompts
