"""Regression on a real table (scikit-learn's diabetes, written to CSV as a user would):
the target is standardized on train, errors are fractions of the target's variance, the
test figures and predictions are in the target's units."""

import json

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from typer.testing import CliRunner

from netrx.cli.app import app
from netrx.config import parse_config
from netrx.experiment import prepare, run
from netrx.experiment.evaluate import regression_metrics
from netrx.experiment.predictor import load


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    frame = load_diabetes(as_frame=True).frame  # 442 rows, 10 features, "target"
    path = tmp_path_factory.mktemp("diabetes") / "diabetes.csv"
    frame.to_csv(path, index=False)
    return path, frame


def _cfg(path, out, name, **data):
    return parse_config({"name": name, "out": str(out), "members": 2, "seed": 0,
                         "data": {"dataset": str(path), "target": "target", **data},
                         "model": {"hidden": [32]},
                         "train": {"epochs": 40, "batch_size": 32}})


def test_the_target_is_standardized_with_training_statistics(table, tmp_path):
    path, frame = table
    prepared = prepare(_cfg(path, tmp_path, "p"))
    s = prepared.splits
    assert prepared.task == "regression" and prepared.target_scaler is not None
    assert abs(float(s.train.y.mean())) < 1e-5 and abs(float(s.train.y.std()) - 1) < 1e-4
    mu, sigma = prepared.target_scaler.mean_[0], prepared.target_scaler.scale_[0]
    assert 100 < mu < 200 and 60 < sigma < 90  # diabetes progression: mean ≈ 152, sd ≈ 77
    back = prepared.to_target_units(s.dev.y)
    assert set(np.round(back, 3)) <= set(np.round(frame["target"].to_numpy(), 3))


def test_a_run_beats_the_mean_and_reports_target_units(table, tmp_path):
    path, frame = table
    result = run(_cfg(path, tmp_path, "r"), progress=False)
    test = result.test
    assert 0.2 < test["r2"] < 0.8  # a network beats predicting the mean (R² = 0)
    assert test["rmse"] < frame["target"].std()
    assert test["error"] == pytest.approx(test["rmse"] ** 2 / result.prepared.target_scaler
                                          .scale_[0] ** 2, rel=0.05)
    summary = json.loads((result.run_dir / "summary.json").read_text())["best"]
    assert {"test_rmse", "test_mae", "test_r2"} <= set(summary)
    assert summary["train_error"] < 1.0 and summary["dev_error"] < 1.0  # fractions of σ²
    predictor = load(result.run_dir)
    pred = predictor.predict(frame.drop(columns="target"))
    m = regression_metrics(pred, frame["target"].to_numpy())
    assert m["r2"] > 0.3 and abs(pred.mean() - frame["target"].mean()) < 20


def test_unscaled_target_is_still_available(table, tmp_path):
    path, _ = table
    prepared = prepare(_cfg(path, tmp_path, "u", scale_target=False))
    assert prepared.target_scaler is None and float(prepared.splits.train.y.mean()) > 100


def test_cli_prints_rmse_mae_and_r2(table, tmp_path):
    path, _ = table
    res = CliRunner().invoke(app, ["train", "--dataset", str(path), "--target", "target",
                                   "--epochs", "20", "--out", str(tmp_path), "--name", "c",
                                   "--quiet"])
    assert res.exit_code == 0, res.output
    assert "MSE/σ²" in res.output and "test RMSE" in res.output and "R²" in res.output
    res = CliRunner().invoke(app, ["predict", str(tmp_path / "c"), str(path)])
    assert res.exit_code == 0, res.output
    assert "RMSE" in res.output and "R²" in res.output


def test_regression_metrics_against_numpy():
    rng = np.random.default_rng(0)
    y = rng.normal(3, 2, 200)
    pred = y + rng.normal(0, 1, 200)
    m = regression_metrics(pred, y)
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((pred - y) ** 2)))
    assert m["mae"] == pytest.approx(np.mean(np.abs(pred - y)))
    assert m["r2"] == pytest.approx(1 - np.sum((pred - y) ** 2) / np.sum((y - y.mean()) ** 2))
    assert regression_metrics(np.full(200, y.mean()), y)["r2"] == pytest.approx(0.0)


def test_report_shows_predicted_vs_actual_in_target_units(table, tmp_path):
    from netrx.report import build_report

    path, _ = table
    result = run(_cfg(path, tmp_path, "rep"), progress=False)
    frame = __import__("pandas").read_csv(result.run_dir / "test_predictions.csv")
    assert list(frame.columns) == ["y", "prediction"]
    assert len(frame) == json.loads((result.run_dir / "summary.json").read_text())["data"][
        "n_test"]
    m = regression_metrics(frame["prediction"], frame["y"])
    assert m["rmse"] == pytest.approx(result.test["rmse"])
    html = build_report(result.run_dir).read_text()
    assert "predicted vs actual" in html and "test RMSE" in html and "MSE/σ²" in html
