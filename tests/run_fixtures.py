"""Test-only callbacks for the run-folder tests (interrupting a fit the way Ctrl-C does)."""

from __future__ import annotations

import os
import signal

from lightning.pytorch import Callback
from torch import nn


class InterruptAt(Callback):
    """Sends this process SIGINT (what Ctrl-C sends) once ``global_step`` reaches ``step``."""

    def __init__(self, step: int = 5) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)  # Python raises KeyboardInterrupt at its next check
            # the handler can run inside a destructor, where the exception is only printed: raise it here then
            raise KeyboardInterrupt


class PickyBackbone(nn.Linear):
    """A backbone whose constructor refuses a bad argument (as every litlab module's does)."""

    def __init__(self, in_features: int = 4, out_features: int = 4, width: int = 4) -> None:
        if width < 1:
            raise ValueError(f"PickyBackbone: width must be >= 1, got {width}")
        super().__init__(in_features, out_features)
