"""A constructor's own message reaches the user: jsonargparse wrapped it in "Does not validate against any of
the Union subtypes" with a `Namespace(...)` dump of the whole model."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from litlab.shared.cli import main
from litlab.shared.errors import unwrap_union_error

BASE = {
    "model": {"class_path": "cli_fixtures.RegressionModel",
              "init_args": {"backbone": {"class_path": "run_fixtures.PickyBackbone", "init_args": {"width": -2}}}},
    "data": {"class_path": "cli_fixtures.RegressionData"},
    "trainer": {"max_steps": 1, "enable_progress_bar": False, "enable_model_summary": False},
}  # fmt: skip


def test_nested_constructor_error_is_shown_as_itself(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    config = tmp_path / "picky.yaml"
    config.write_text(yaml.safe_dump(BASE))
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(config), "--trainer.default_root_dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert err.splitlines()[0] == "litlab: error: ValueError: PickyBackbone: width must be >= 1, got -2"
    assert "Union" not in err and "Namespace(" not in err and len(err.splitlines()) == 2


def test_wrapper_without_a_cause_keeps_only_its_error_lines() -> None:
    wrapped = ValueError(
        "Does not validate against any of the Union subtypes\nSubtypes: [A, NoneType]\nErrors:\n"
        "  - lr must be > 0, got -1\n  - Expected a <class 'NoneType'>\nGiven value: Namespace(x=1)"
    )
    assert str(unwrap_union_error(wrapped)) == "lr must be > 0, got -1"
    plain = KeyError("x")
    assert unwrap_union_error(plain) is plain
    inner = TypeError("Backbone: dim must be an int")
    try:
        raise ValueError("Does not validate against any of the Union subtypes\nErrors: ...") from inner
    except ValueError as exc:
        assert unwrap_union_error(exc) is inner
