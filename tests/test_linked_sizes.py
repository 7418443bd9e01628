"""Each recipe family's --print_config shows the sizes linked from its DataModule (the LM's vocabulary, the
offline agents' observation/action sizes, the in-context agent's groups), and a hand-set size that
disagrees with the data is refused before training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from litlab.shared.cli import main

ROOT = Path(__file__).resolve().parents[1]
CPU = str(ROOT / "configs/trainer/cpu.yaml")


def _print_config(capsys, *args: str) -> dict:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--config", CPU, *args, "--print_config"])
    assert exc.value.code == 0
    return yaml.safe_load(capsys.readouterr().out)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Six small Python files (documents for the train/val/test split, text for a 300-token BPE)."""
    root = tmp_path_factory.mktemp("corpus")
    text = "".join(f"def g{i}(y):\n    return y * {i} - {i % 7}\n\n" for i in range(40))
    for name in "abcdef":
        (root / f"{name}.py").write_text(text)
    return root


def _lm_args(corpus, tmp_path) -> list[str]:
    return ["--config", str(ROOT / "configs/attention/lm-lightning.yaml"), f"--data.init_args.source={corpus}/*.py",
            "--data.init_args.bpe_vocab_size=300", f"--data.init_args.cache_dir={tmp_path}/cache"]  # fmt: skip


def test_lm_recipe_prints_the_tokenizers_vocab_size(corpus, tmp_path, capsys):
    cfg = _print_config(capsys, *_lm_args(corpus, tmp_path))
    vocab = cfg["model"]["init_args"]["vocab_size"]
    assert isinstance(vocab, int) and 258 <= vocab <= 300  # the BPE trained on the corpus, not a default


def test_lm_recipe_refuses_a_disagreeing_vocab_size(corpus, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--config", CPU, *_lm_args(corpus, tmp_path), "--model.init_args.vocab_size=4096",
              "--trainer.max_steps=1", f"--trainer.default_root_dir={tmp_path}"])  # fmt: skip
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "model.init_args.vocab_size=4096 disagrees with the data: TextDataModule.vocab_size" in err


def test_offline_rl_recipe_prints_obs_and_action_sizes(tmp_path, capsys):
    from litlab.rl.offline.storage import OfflineMetadata, save_offline_dataset

    rng, n = np.random.default_rng(0), 64
    arrays = {
        "observations": rng.normal(size=(n, 11)).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(n, 3)).astype(np.float32),
        "rewards": rng.normal(size=n).astype(np.float32),
        "terminals": np.zeros(n, bool),
        "timeouts": np.arange(n) % 16 == 15,
        "next_observations": rng.normal(size=(n, 11)).astype(np.float32),
    }
    path = save_offline_dataset(tmp_path / "hopper-random-v5", arrays, OfflineMetadata("Hopper-v5", "random", 0.0, 1.0))
    cfg = _print_config(capsys, "--config", str(ROOT / "configs/rl/fql-hopper.yaml"), f"--data.init_args.path={path}")
    assert (cfg["model"]["init_args"]["obs_dim"], cfg["model"]["init_args"]["action_dim"]) == (11, 3)


def test_icrl_recipe_prints_the_groups(tmp_path, capsys):
    from litlab.rl.envs import get_spec
    from litlab.rl.histories import generate

    spec = get_spec("darkroom_tiny")
    tasks = [int(t) for t in np.concatenate([spec.split()["train"][:2], spec.split()["test"][:1]])]
    generate(tmp_path / "tiny", spec, tasks, 10, 0.3, tasks_per_job=3)
    cfg = _print_config(capsys, "--config", str(ROOT / "configs/rl/icrl-darkroom.yaml"),
                        "--config", str(ROOT / "configs/rl/icrl-lightning.yaml"),
                        f"--data.init_args.paths=[{tmp_path / 'tiny'}]")  # fmt: skip
    groups = cfg["model"]["init_args"]["groups"]
    assert len(groups) == 1 and {"obs_n", "act_n"} <= set(next(iter(groups.values())))
