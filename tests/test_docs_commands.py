"""Commands the docs and hints print point at the right thing: the alignment README aligns the SFT run it
just made (not whatever `runs/sft/version_0` holds), and each FQL recipe's generate hints name its own env."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_alignment_quickstart_aligns_the_sft_run_it_made() -> None:
    text = (REPO / "packages/alignment/README.md").read_text()
    block = text.split("## One minute on a CPU", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    assert "version_0" not in block  # every fit is a new version_<n>: a fixed one may be an older run
    assert "ls -dv runs/sft/version_* | tail -n 1" in block and "checkpoint=$SFT" in block


@pytest.mark.parametrize(("recipe", "env"), [("fql-hopper", "Hopper-v5"), ("fql-halfcheetah", "HalfCheetah-v5"),
                                             ("fql-walker2d", "Walker2d-v5")])  # fmt: skip
def test_fql_recipes_hint_their_own_env(recipe: str, env: str, tmp_path: Path) -> None:
    pytest.importorskip("gymnasium")
    from litlab.rl.offline.storage import load_offline_dataset

    config = (REPO / "configs/rl" / f"{recipe}.yaml").read_text()
    assert re.findall(r"--env (\S+)", config) == [env]
    task = env.split("-")[0].lower()
    with pytest.raises(FileNotFoundError, match=rf"generate it with `python -m litlab.rl.offline --env {env} "
                                                rf"--out {re.escape(str(tmp_path))}`"):  # fmt: skip
        load_offline_dataset(tmp_path / f"{task}-medium-v5")
