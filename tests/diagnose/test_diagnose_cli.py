"""`netrx diagnose` and `netrx gradcheck` end to end, and learning curves."""

import json
import re

import numpy as np
import pytest
import yaml
from torch import nn
from typer.testing import CliRunner

import netrx.nn.builders
from netrx.cli.app import app
from netrx.config import parse_config
from netrx.diagnose import bias_variance, diagnose_run, learning_curve
from netrx.diagnose.learning_curve import nested_order, parse_fractions
from netrx.errors import ConfigError, RunDirError
from netrx.experiment import prepare, run

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    cfg = parse_config({"name": "iris-small", "out": str(out), "members": 3,
                        "data": {"dataset": "iris"}, "model": {"hidden": [4]},
                        "optimizer": {"name": "adam", "lr": [0.001, 0.01, 0.03]},
                        "train": {"epochs": 8, "batch_size": 16}})
    result = run(cfg, progress=False)
    return result.run_dir


def test_diagnose_prints_the_verdict_and_the_recipe_of_the_best_member(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    best = summary["best"]
    sizes = {f"n_{k}": summary["data"][f"n_{k}"] for k in ("train", "dev", "test")}
    expected = bias_variance(best["train_error"], best["dev_error"], best["test_error"], **sizes)
    result = runner.invoke(app, ["diagnose", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert expected.verdict in result.output
    assert f"{best['train_error']:.2%}" in result.output
    assert f"{best['dev_error']:.2%}" in result.output
    assert "avoidable bias" in result.output and "basic recipe" in result.output
    if expected.high_bias:  # iris after 8 epochs of a 4-unit net: still underfitting
        assert "change  model.hidden: [8]" in result.output


def test_diagnose_all_members_and_target_error(run_dir):
    result = runner.invoke(app, ["diagnose", str(run_dir), "--all"])
    assert result.exit_code == 0, result.output
    for k in range(3):
        assert re.search(rf"│\s+{k}( \(best\))?\s+│", result.output)
    verdict = diagnose_run(run_dir, all_members=True)
    assert [m.member for m in verdict.members] == [0, 1, 2]
    assert sum(m.best for m in verdict.members) == 1
    # a target error above the train error leaves no avoidable bias
    high = diagnose_run(run_dir, target_error=0.9)
    assert not high.members[0].diagnosis.high_bias
    out = runner.invoke(app, ["diagnose", str(run_dir), "--target-error", "0.9"])
    assert out.exit_code == 0 and "90.00%" in out.output


def test_target_error_from_the_config(run_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    cfg = yaml.safe_load((copy / "config.yaml").read_text())
    cfg["data"]["target_error"] = 0.5
    (copy / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert diagnose_run(copy).target_error == 0.5
    assert diagnose_run(copy, target_error=0.1).target_error == 0.1  # the flag wins


def test_diagnose_missing_directory_exits_2(tmp_path):
    result = runner.invoke(app, ["diagnose", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in " ".join(result.output.split())
    with pytest.raises(RunDirError):
        diagnose_run(tmp_path)  # exists, but is no run directory


def _write(tmp_path, data):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_gradcheck_cli_passes_a_correct_model(tmp_path):
    path = _write(tmp_path, {"data": {"dataset": "iris"}, "model": {"hidden": [5],
                             "dropout": 0.2}, "regularization": {"l2": 2.0}})
    result = runner.invoke(app, ["gradcheck", str(path), "--coords", "0", "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    assert "great" in result.output and "1.weight" in result.output
    assert "Dropout" in result.output  # named as switched off


class _Twice(nn.Module):
    """Forward x, backward 2·g: a wrong backward hidden in an activation-like layer."""

    class Fn(__import__("torch").autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return 2 * g

    def forward(self, x):
        return self.Fn.apply(x)


def test_gradcheck_cli_exits_1_on_a_bug(tmp_path, monkeypatch):
    real = netrx.nn.builders.mlp

    def buggy(*args, **kwargs):
        net = real(*args, **kwargs)
        return nn.Sequential(*list(net)[:3], _Twice(), *list(net)[3:])

    monkeypatch.setattr(netrx.nn.builders, "mlp", buggy)
    path = _write(tmp_path, {"data": {"dataset": "iris"}, "model": {"hidden": [5]}})
    result = runner.invoke(app, ["gradcheck", str(path), "--coords", "0", "--batch-size", "8"])
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "→ bug" in text and "goes wrong at 1.weight, 1.bias (Linear" in text
    assert "between it and 4.weight (Linear), which checks out" in text


def test_gradcheck_cli_bad_config_exits_2(tmp_path):
    result = runner.invoke(app, ["gradcheck", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2


def test_fractions_and_nested_stratified_order():
    assert parse_fractions("1,0.1, 0.5") == [0.1, 0.5, 1.0]
    with pytest.raises(ConfigError):
        parse_fractions("0,0.5")
    with pytest.raises(ConfigError):
        parse_fractions("a")
    y = np.repeat([0, 1, 2], [60, 30, 10])
    order = nested_order(y, seed=0, classification=True)
    assert sorted(order) == list(range(100))
    first = y[order[:20]]
    assert list(np.bincount(first, minlength=3)) == [12, 6, 2]


def test_learning_curve_trains_on_growing_subsets_and_plots(tmp_path):
    cfg = parse_config({"data": {"dataset": "wine"}, "model": {"hidden": [8]},
                        "optimizer": {"lr": 0.01}, "train": {"epochs": 10, "batch_size": 16}})
    curve = learning_curve(cfg, [0.25, 1.0])
    sizes = [p.n_train for p in curve.points]
    n = len(prepare(cfg).splits.train.y)  # 178 − 36 test − 36 dev = 106
    assert sizes == [round(0.25 * n), n]
    assert all(0 <= p.train_error <= 1 and 0 <= p.dev_error <= 1 for p in curve.points)
    png = curve.plot(tmp_path / "lc.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert curve.diagnosis().dev_error == curve.points[-1].dev_error


def test_learning_curve_cli(tmp_path):
    path = _write(tmp_path, {"data": {"dataset": "iris"}, "model": {"hidden": [4]},
                             "train": {"epochs": 3}, "out": str(tmp_path)})
    result = runner.invoke(app, ["diagnose", "--learning-curve", str(path),
                                 "--fractions", "0.5,1"])
    assert result.exit_code == 0, result.output
    assert "learning curve" in result.output and "dev − train" in result.output
    assert (tmp_path / "learning-curve-iris.png").is_file()
