"""`netrx tune` end to end: outputs, best.yaml trained by `netrx train`, friendly errors."""

import csv
import json

import pytest
import yaml
from typer.testing import CliRunner

from netrx.cli.app import app

runner = CliRunner()


def _write(tmp_path, cfg, name="tune.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_tune_writes_the_run_directory_and_best_yaml_trains(tiny, tmp_path):
    cfg = tiny(trials=4, space={"optimizer.lr": "log_uniform(1e-3, 1e-1)",
                                "optimizer.b2": "one_minus_log(0.9, 0.999)"})
    path = _write(tmp_path, cfg)
    result = runner.invoke(app, ["tune", str(path), "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "tune-tune"  # the default name comes from the config file
    for f in ("study.db", "best.yaml", "trials.csv", "importance.json", "plots.json",
              "tune.json"):
        assert (run / f).is_file(), f
    assert "best trials" in result.output and "netrx dashboard" in result.output
    summary = json.loads((run / "tune.json").read_text())
    assert summary["trials"] == 4 and summary["states"] == {"COMPLETE": 4}
    rows = list(csv.DictReader((run / "trials.csv").open()))
    assert len(rows) == 4 and {"optimizer.lr", "optimizer.b2", "state", "value"} <= set(rows[0])
    assert all(0.9 <= float(r["optimizer.b2"]) <= 0.999 for r in rows)  # β, not log10(1 − β)
    plots = json.loads((run / "plots.json").read_text())
    axes = {p["key"]: p["axis"] for p in plots["params"]}
    assert axes == {"optimizer.lr": "log", "optimizer.b2": "log"}
    assert len(plots["history"]) == 4 and len(plots["curves"]) == 4
    assert plots["history"][-1]["best_so_far"] == pytest.approx(summary["best"]["value"])
    importance = json.loads((run / "importance.json").read_text())
    assert importance["available"] is False and "at least 10" in importance["reason"]

    best = yaml.safe_load((run / "best.yaml").read_text())
    assert "search" not in best and best["members"] == 1 and best["train"]["epochs"] == 4
    assert best["optimizer"]["lr"] == pytest.approx(summary["best"]["values"]["optimizer.lr"])
    trained = runner.invoke(app, ["train", str(run / "best.yaml"), "--out", str(tmp_path),
                                  "--quiet"])
    assert trained.exit_code == 0, trained.output
    member = json.loads((tmp_path / "tune-tune-best" / "summary.json").read_text())["best"]
    assert member["dev_error"] == pytest.approx(summary["best"]["value"])  # the same network

    again = runner.invoke(app, ["tune", str(path), "--out", str(tmp_path), "--quiet"])
    assert again.exit_code == 0, again.output  # rerun: the study is complete, nothing new
    assert json.loads((run / "tune.json").read_text())["trials"] == 4


def test_tune_errors_are_one_line_and_hide_passwords(tiny, tmp_path):
    bad = _write(tmp_path, tiny(space={"optimizer.lr": "log_uniform(0, 1)"}))
    result = runner.invoke(app, ["tune", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "log scale needs lo > 0" in result.output
    assert "Traceback" not in result.output
    good = _write(tmp_path, tiny(), "good.yaml")
    result = runner.invoke(app, ["tune", str(good), "--out", str(tmp_path), "--storage",
                                 "postgresql://netrx:TOPSECRET@127.0.0.1:1/nothing"])
    assert result.exit_code == 2
    assert "TOPSECRET" not in result.output and "***" in result.output
    result = runner.invoke(app, ["tune", str(good), "--out", str(tmp_path), "--strategy",
                                 "tpx"])
    assert result.exit_code == 2 and "did you mean 'tpe'" in result.output


def test_tune_prints_a_live_table_and_the_coarse_to_fine_box(tiny, tmp_path):
    cfg = tiny(strategy="coarse_to_fine", trials=6, q=0.5)
    result = runner.invoke(app, ["tune", str(_write(tmp_path, cfg)), "--out", str(tmp_path),
                                 "--name", "c"])
    assert result.exit_code == 0, result.output
    assert "best trials" in result.output
    assert "coarse_to_fine: box around the best" in result.output
    assert "optimizer.lr: [" in result.output and "on a log scale" in result.output
    summary = json.loads((tmp_path / "c" / "tune.json").read_text())
    assert summary["box"]["box"]["optimizer.lr"]["scale"] == "log"
