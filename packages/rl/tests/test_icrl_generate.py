"""An in-context RL recipe on a fresh clone: HistoryDataModule.generate writes a missing history set first."""

import pytest

from litlab.rl.icrl.data import HistoryDataModule


def test_missing_history_set_is_generated_once(tmp_path, capsys):
    path = str(tmp_path / "tiny-q50")
    options = {"family": "darkroom_tiny", "episodes": 4, "quality": 0.5, "max_tasks": 3, "no_plot": True}
    dm = HistoryDataModule([path], context=8, batch_size=2, generate={path: options})
    assert "generating it once" in capsys.readouterr().out
    assert dm.sets[0].meta["group"] and len(dm.sets[0].tasks_of("train")) + len(dm.sets[0].tasks_of("test")) == 3
    dm.setup("fit")
    HistoryDataModule([path], context=8, batch_size=2, generate={path: options})
    assert "generating" not in capsys.readouterr().out  # the second module finds the set


def test_generate_entries_for_other_paths_are_skipped(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):  # the recipe's set, with paths overridden
        HistoryDataModule([str(tmp_path / "a")], generate={str(tmp_path / "b"): {"family": "darkroom_tiny"}})
    assert not (tmp_path / "b").exists()
