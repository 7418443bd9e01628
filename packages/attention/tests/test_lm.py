"""LanguageModel: loss, schedule, FLOP count, and the `litlab fit` smoke test of every recipe."""

import math
from pathlib import Path

import lightning as L
import pytest
import torch

from litlab.attention import BackboneConfig, LanguageModel
from litlab.attention.lm.flops import flops_per_token
from litlab.shared.cli import main
from litlab.shared.optim import warmup_cosine

ROOT = Path(__file__).resolve().parents[3]
RECIPES = ["lm-lightning", "lm-hybrid-moe", "lm-softmax", "lm-ssmax"]
TINY = [
    "--model.init_args.backbone.dim=32",
    "--model.init_args.backbone.num_layers=2",
    "--model.init_args.backbone.num_heads=2",
    "--model.init_args.backbone.head_dim=16",
    "--model.init_args.sample_tokens=4",
    "--data.init_args.seq_len=32",
    "--data.init_args.batch_size=2",
    "--data.init_args.bpe_vocab_size=300",
    "--trainer.limit_val_batches=1",
    "--trainer.val_check_interval=2",
    "--trainer.log_every_n_steps=1",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    for i in range(10):
        (root / f"f{i}.py").write_text(f"def f{i}(x):\n    return x + {i}\n\n" * 30)
    return root


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_fits_for_two_steps(recipe, corpus, tmp_path):
    cfg = ROOT / "configs" / "attention" / f"{recipe}.yaml"
    args = [
        "fit",
        "--config",
        str(ROOT / "configs/trainer/cpu.yaml"),
        "--config",
        str(cfg),
        *TINY,
        "--trainer.max_steps=2",
        "--trainer.default_root_dir",
        str(tmp_path),
        f"--data.init_args.source={corpus}/*.py",
        f"--data.init_args.cache_dir={tmp_path}/cache",
    ]
    main(args)
    run = tmp_path / recipe / "version_0"
    assert (run / "tokenizer.json").exists() and (run / "samples.txt").read_text().startswith("--- step 2")
    metrics = (run / "metrics.csv").read_text()
    assert "val/ppl" in metrics and "train/tokens_per_s" in metrics
    if recipe == "lm-hybrid-moe":
        assert "train/aux_loss" in metrics and "train/expert_load/0" in metrics
    ckpt = next((run / "checkpoints").glob("*.ckpt"))
    lm = LanguageModel.load_from_checkpoint(ckpt)
    assert lm.model.vocab_size == lm.hparams.vocab_size and "TextDataModule" in torch.load(ckpt, weights_only=False)


def test_loss_is_cross_entropy_plus_weighted_aux():
    torch.manual_seed(0)
    cfg = BackboneConfig(dim=16, num_layers=2, num_heads=2, head_dim=8, pattern="LS", ffn="moe", num_experts=2)
    lm = LanguageModel(cfg, vocab_size=20, aux_loss_coef=0.5)
    batch = torch.randint(0, 20, (3, 9))
    loss, metrics, logits, targets = lm.loss(batch)
    ce = torch.nn.functional.cross_entropy(lm.model(batch[:, :-1]).flatten(0, 1), batch[:, 1:].flatten())
    assert metrics["ce"].item() == pytest.approx(ce.item(), rel=1e-5)
    assert loss.item() == pytest.approx(ce.item() + 0.5 * metrics["aux_loss"].item(), rel=1e-5)
    with pytest.raises(ValueError, match="batch must be"):
        lm.loss(torch.zeros(3, dtype=torch.long))


def test_training_reduces_loss_on_a_repeated_batch():
    torch.manual_seed(0)
    lm = LanguageModel(
        BackboneConfig(dim=16, num_layers=1, num_heads=2, head_dim=8),
        vocab_size=30,
        lr=3e-2,
        warmup_steps=2,
        sample_prompt="",
    )
    batch = torch.randint(0, 30, (4, 17))
    before = lm.loss(batch)[0].item()
    trainer = L.Trainer(
        max_steps=15,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(lm, torch.utils.data.DataLoader([b for b in batch] * 8, batch_size=4))
    assert lm.loss(batch)[0].item() < 0.5 * before


def test_warmup_cosine_schedule():
    assert warmup_cosine(0, 10, 110, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(9, 10, 110, 0.1) == pytest.approx(1.0)
    assert warmup_cosine(60, 10, 110, 0.1) == pytest.approx(0.55)  # half way down the cosine
    assert warmup_cosine(110, 10, 110, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(500, 10, 110, 0.1) == pytest.approx(0.1)


def test_flops_per_token_by_hand():
    # one lightning + one softmax layer, dim 8, 2 heads x 4, SwiGLU hidden 64 (default for dim 8), vocab 10
    cfg = BackboneConfig(dim=8, num_layers=2, num_heads=2, head_dim=4, pattern="LS")
    head, ffn = 6 * 8 * 10, 6 * 3 * 8 * 64
    lightning = 6 * 5 * 8 * 8 + 14 * 4 * (64 + 4) * 2
    softmax = 6 * 4 * 8 * 8 + 6 * 128 * 4 * 2
    assert flops_per_token(cfg, 10, 128) == head + 2 * ffn + lightning + softmax
    assert math.isclose(flops_per_token(cfg, 10, 256) - flops_per_token(cfg, 10, 128), 6 * 128 * 8)


def test_size_overlay_gives_fla_retnet_parameter_counts():
    """configs/attention/size-141m.yaml on the lightning recipe: the throughput experiment's model at fla
    RetNet's counts (141,192,960 parameters; 92,040,960 outside the two 32,000 x 768 embeddings)."""
    from litlab.shared.cli import LitlabCLI

    configs = ["trainer/cpu.yaml", "attention/lm-lightning.yaml", "attention/size-141m.yaml"]
    args = [a for c in configs for a in ("--config", str(ROOT / "configs" / c))]
    cli = LitlabCLI(args=[*args, "--model.init_args.vocab_size=32000"], run=False)
    cli.model.configure_model()
    total = sum(p.numel() for p in cli.model.parameters())
    assert (total, total - 2 * 32000 * 768) == (141_192_960, 92_040_960)
    assert (cli.datamodule.hparams.seq_len * cli.datamodule.hparams.batch_size) == 65536
