"""Test-only modules for the CLI mechanism (composition, injection, resume); not part of the product."""

from __future__ import annotations

import sys

import torch
from lightning.pytorch import LightningDataModule, LightningModule
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

# the `litlab` command as a subprocess, and the regression recipe the CLI tests write as their base config
LITLAB = [sys.executable, "-m", "litlab.shared.cli"]
BASE = {
    "model": {
        "class_path": "cli_fixtures.RegressionModel",
        "init_args": {
            "backbone": {"class_path": "torch.nn.Linear", "init_args": {"in_features": 4, "out_features": 4}}
        },
    },
    "data": {"class_path": "cli_fixtures.RegressionData"},  # 64 samples, batches of 8: 8 steps an epoch
    "trainer": {"max_steps": 3, "log_every_n_steps": 1, "enable_model_summary": False, "enable_progress_bar": False},
}


class RegressionData(LightningDataModule):
    """Random linear-regression data: y = x @ w + noise."""

    def __init__(self, num_samples: int = 64, dim: int = 4, batch_size: int = 8) -> None:
        super().__init__()
        if num_samples < 1:
            raise ValueError(f"RegressionData: num_samples must be >= 1, got {num_samples}")
        self.save_hyperparameters()
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(num_samples, dim, generator=generator)
        self.y = self.x @ torch.randn(dim, 1, generator=generator)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.x, self.y), batch_size=self.hparams.batch_size)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.x, self.y), batch_size=self.hparams.batch_size)


class RegressionModel(LightningModule):
    """A regressor around an injected backbone module: [B, dim] -> [B, hidden].

    A backbone whose forward takes two inputs (``nn.Bilinear``) gets the features twice.
    """

    def __init__(self, backbone: nn.Module, hidden: int = 4, lr: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["backbone"])
        self.backbone = backbone
        self.head = nn.Linear(hidden, 1)
        self.first_step_seen: int | None = None

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.first_step_seen is None:
            self.first_step_seen = self.global_step
        x, y = batch
        loss = nn.functional.mse_loss(self(x), y)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log("val/loss", nn.functional.mse_loss(self(x), y))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x, x) if isinstance(self.backbone, nn.Bilinear) else self.backbone(x)
        return self.head(features)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class ClampedLinear(nn.Linear):
    """A linear backbone whose output is clamped to [-clip, clip]; ``clip=None`` turns the clamp off."""

    def __init__(self, in_features: int = 4, out_features: int = 4, clip: float | None = 1.0) -> None:
        super().__init__(in_features, out_features)
        self.clip = clip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        return y if self.clip is None else y.clamp(-self.clip, self.clip)


class SelfFeedingModel(RegressionModel):
    """A model that makes its own data (as an RL agent stepping environments does): no DataModule."""

    def train_dataloader(self) -> DataLoader:
        return RegressionData(num_samples=32, dim=4).train_dataloader()


class SequenceData(LightningDataModule):
    """Random sequences [N, T, dim] with a running-mean target [N, T, 1] (a causal task)."""

    def __init__(self, num_samples: int = 32, length: int = 12, dim: int = 8, batch_size: int = 8) -> None:
        super().__init__()
        self.save_hyperparameters()
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(num_samples, length, dim, generator=generator)
        steps = torch.arange(1, length + 1).view(1, length, 1)
        self.y = self.x.sum(-1, keepdim=True).cumsum(1) / steps

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.x, self.y), batch_size=self.hparams.batch_size)


class SequenceRegression(RegressionModel):
    """A per-step regressor around an injected sequence backbone: [B, T, dim] -> [B, T, hidden]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))
