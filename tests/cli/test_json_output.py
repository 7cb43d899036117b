"""``--json`` on train, tune and improve: stdout holds one JSON document alone, for
scripts (the progress bar, live tables and decision log stay off)."""

import json

import yaml
from typer.testing import CliRunner

from netrx.cli.app import app

runner = CliRunner()


def _only_json(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output[-1000:]
    return json.loads(lines[0])


def test_train_json(tmp_path):
    result = runner.invoke(app, ["train", "--dataset", "iris", "--epochs", "2", "--members",
                                 "2", "--out", str(tmp_path), "--name", "t", "--json"])
    assert result.exit_code == 0, result.output
    data = _only_json(result.stdout)
    assert data["run_dir"] == str(tmp_path / "t") and data["dataset"] == "iris"
    assert 0.0 <= data["best"]["test_error"] <= 1.0


def test_tune_json(tmp_path):
    config = tmp_path / "tune.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"dataset": "iris"}, "model": {"hidden": [8]}, "train": {"epochs": 2},
        "search": {"space": {"optimizer.lr": "log_uniform(1e-3, 1e-1)"}, "trials": 4,
                   "slots": 2}}))
    result = runner.invoke(app, ["tune", str(config), "--out", str(tmp_path), "--name", "u",
                                 "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    data = _only_json(result.stdout)
    assert data["run_dir"] == str(tmp_path / "u") and data["trials"] == 4
    assert data["best"]["number"] in range(4)


def test_improve_json(tmp_path):
    result = runner.invoke(app, ["improve", "iris", "--budget", "8s", "--members", "2",
                                 "--out", str(tmp_path), "--name", "i", "--json"])
    assert result.exit_code == 0, result.output
    data = _only_json(result.stdout)
    assert data["run_dir"] == str(tmp_path / "i") and data["task"] == "classification"
    assert data["final"]["chosen"] and 0.0 <= data["final"]["test_error"] <= 1.0
    assert data["decisions"][0]["step"] == "baseline"
