"""litlab.shared.callbacks.PeriodicEval: which steps are evaluated, eval mode meanwhile, metrics logged."""

import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.loggers import Logger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from litlab.shared.callbacks import PeriodicEval


class _Model(LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        return self.lin(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.randn(64, 2)), batch_size=4)


class _Probe(PeriodicEval):
    def __init__(self, every_n_steps: int) -> None:
        super().__init__(every_n_steps)
        self.seen: list[tuple[int, bool]] = []

    def evaluate(self, trainer, pl_module):
        self.seen.append((trainer.global_step, pl_module.training))
        return {"eval/step": float(trainer.global_step)}


class _Recorder(Logger):
    name, version = "recorder", 0
    rows: list

    def __init__(self) -> None:
        super().__init__()
        self.rows = []

    def log_metrics(self, metrics, step=None):
        if "eval/step" in metrics:
            self.rows.append((step, metrics["eval/step"]))

    def log_hyperparams(self, *args, **kwargs):
        pass


@pytest.mark.parametrize("every, max_steps, steps", [(2, 5, [2, 4, 5]), (2, 4, [2, 4]), (0, 3, [3])])
def test_periodic_eval_schedule_mode_and_logging(every, max_steps, steps):
    probe, rec = _Probe(every), _Recorder()
    model = _Model()
    Trainer(max_steps=max_steps, accelerator="cpu", logger=rec, callbacks=[probe], enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False).fit(model)  # fmt: skip
    assert probe.seen == [(s, False) for s in steps]  # each step once, in eval mode
    assert model.training  # training mode restored
    assert rec.rows == [(s, float(s)) for s in steps]


def test_periodic_eval_refuses_a_negative_period():
    with pytest.raises(ValueError, match="every_n_steps must be >= 0"):
        _Probe(-1)
