"""litlab.shared.links through the `litlab` command: data-derived sizes reach the model by link, a missing
link fails at once, a disagreeing hand-set size is refused, and --print_config shows the linked value."""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch import LightningDataModule, LightningModule
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from litlab.shared.cli import main
from litlab.shared.links import LINKED_SIZES, given_sizes

SEEN: dict[str, int] = {}


class TokenData(LightningDataModule):
    """Random token ids in [0, vocab); knows its vocabulary at construction."""

    def __init__(self, vocab: int = 11) -> None:
        super().__init__()
        self.vocab = vocab
        self.x = torch.randint(0, vocab, (16, 5), generator=torch.Generator().manual_seed(0))

    @property
    def vocab_size(self) -> int:
        return self.vocab

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.x), batch_size=4)


class PlainData(LightningDataModule):
    """Token data without a `vocab_size` attribute: nothing to link."""

    def train_dataloader(self) -> DataLoader:
        return TokenData().train_dataloader()


class TokenModel(LightningModule):
    """Embedding + head; `vocab_size` has no default: it must come from the data (or by hand)."""

    def __init__(self, vocab_size: int, dim: int = 4) -> None:
        super().__init__()
        self.save_hyperparameters()
        SEEN["vocab_size"] = vocab_size
        self.emb, self.head = nn.Embedding(vocab_size, dim), nn.Linear(dim, vocab_size)

    def training_step(self, batch, batch_idx):
        (x,) = batch
        logits = self.head(self.emb(x[:, :-1]))
        return nn.functional.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class NoSizeModel(TokenModel):
    """A model that takes no data-derived size: the link is skipped for it."""

    def __init__(self, dim: int = 4) -> None:
        super().__init__(vocab_size=11, dim=dim)


def _fit(tmp_path, model: str, data: str, *extra: str) -> int:
    return main(
        ["fit", f"--model={__name__}.{model}", f"--data={__name__}.{data}", "--trainer.max_steps=1",
         "--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false", "--trainer.logger=false",
         "--trainer.enable_checkpointing=false", f"--trainer.default_root_dir={tmp_path}", *extra]
    )  # fmt: skip


def test_the_size_reaches_the_model_from_the_data(tmp_path):
    SEEN.clear()
    assert _fit(tmp_path, "TokenModel", "TokenData", "--data.init_args.vocab=13") == 0
    assert SEEN["vocab_size"] == 13  # the DataModule's value, not a default (there is none)


def test_an_agreeing_hand_set_size_is_accepted(tmp_path):
    assert _fit(tmp_path, "TokenModel", "TokenData", "--model.init_args.vocab_size=11") == 0


def test_a_disagreeing_hand_set_size_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _fit(tmp_path, "TokenModel", "TokenData", "--model.init_args.vocab_size=12")
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "model.init_args.vocab_size=12 disagrees with the data: TokenData.vocab_size = 11" in err


def test_a_missing_link_fails_at_once(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _fit(tmp_path, "TokenModel", "PlainData")
    err = capsys.readouterr().err
    assert exc.value.code == 1 and "model.init_args.vocab_size is required and linked from the data" in err
    assert "the DataModule PlainData has no `vocab_size`" in err


def test_a_model_without_the_argument_ignores_the_link(tmp_path):
    assert _fit(tmp_path, "NoSizeModel", "TokenData") == 0


def test_print_config_shows_the_linked_size(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _fit(tmp_path, "TokenModel", "TokenData", "--data.init_args.vocab=17", "--print_config")
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "vocab_size: 17" in out and "vocab: 17" in out


def test_given_sizes_reads_only_values_other_than_the_default():
    from jsonargparse import Namespace

    cfg = Namespace(class_path=f"{__name__}.TokenModel", init_args=Namespace(vocab_size=5, dim=4))
    assert given_sizes(cfg) == {"vocab_size": 5}
    assert given_sizes(Namespace(class_path=f"{__name__}.NoSizeModel", init_args=Namespace(dim=4))) == {}
    assert "vocab_size" in LINKED_SIZES and "obs_dim" in LINKED_SIZES
