import json

from litlab.robotics.cli import main


def test_generate_fit_report(tmp_path, capsys):
    ds, tok = str(tmp_path / "ds"), str(tmp_path / "tok")
    assert (
        main(["generate", "--out", ds, "--episodes", "30", "--val-episodes", "6", "--fps", "25", "--image-size", "16"])
        == 0
    )
    capsys.readouterr()
    assert main(["fit", "--dataset", ds, "--out", tok, "--vocab-size", "256"]) == 0
    fit = json.loads(capsys.readouterr().out)
    assert fit["horizon"] == 25 and fit["naive_tokens"] == 50 and fit["strict_failures"] == 0
    assert fit["fast_tokens_mean"] < 50 and fit["mae_normalized"] < 0.05
    assert main(["report", "--dataset", ds, "--tokenizer", tok]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["split"] == "val" and rep["chunks"] > 0 and rep["strict_failures"] == 0
    assert main(["fit", "--dataset", ds, "--out", tok, "--horizon", "1000"]) == 1
    assert "no full 1000-step windows" in capsys.readouterr().err
