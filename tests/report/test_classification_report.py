"""A classifier's run directory (test probabilities, feature importance) and the report's
per-class, ROC / precision–recall, calibration and importance sections."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from netrx.cli.app import app
from netrx.config import parse_config
from netrx.experiment import run
from netrx.report import build_report

NEW_SECTIONS = ("Per-class metrics (test set)", "ROC and precision–recall (test set)",
                "Calibration (test set)", "Feature importance (dev set)")


def _train(out, dataset, *args):
    result = CliRunner().invoke(app, [
        "train", "--dataset", dataset, "--out", str(out), "--quiet", "--name", dataset,
        "--hidden", "8", "--epochs", "4", "--members", "2", "--batch-size", "32", *args])
    assert result.exit_code == 0, result.output
    return out / dataset


@pytest.mark.parametrize("dataset,classes", [
    ("breast_cancer", ["malignant", "benign"]),
    ("iris", ["setosa", "versicolor", "virginica"]),
])
def test_train_writes_test_probabilities_importance_and_report_sections(tmp_path, dataset,
                                                                        classes):
    d = _train(tmp_path, dataset)
    summary = json.loads((d / "summary.json").read_text())
    frame = pd.read_csv(d / "test_predictions.csv")
    assert list(frame.columns) == ["y", "prediction", *[f"p_{c}" for c in classes]]
    assert len(frame) == summary["data"]["n_test"]
    probs = frame[[f"p_{c}" for c in classes]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    assert set(frame["y"]) <= set(classes) and set(frame["prediction"]) <= set(classes)
    # the file and the summary come from the same single look at the test set
    index = {c: i for i, c in enumerate(classes)}
    confusion = np.zeros((len(classes),) * 2, int)
    np.add.at(confusion, (frame["y"].map(index), frame["prediction"].map(index)), 1)
    assert confusion.tolist() == summary["confusion_matrix"]
    assert (frame["y"] != frame["prediction"]).mean() == pytest.approx(
        summary["best"]["test_error"])
    assert (np.asarray(classes)[probs.argmax(1)] == frame["prediction"]).mean() > 0.97

    imp = json.loads((d / "importance_features.json").read_text())
    pre = json.loads((d / "preprocess.json").read_text())
    assert sorted(f["column"] for f in imp["features"]) == sorted(pre["columns"])
    assert imp["split"] == "dev" and imp["rows"] == summary["data"]["n_dev"]

    page = (d / "report.html").read_text()
    binary = len(classes) == 2
    for title in NEW_SECTIONS:
        assert (title in page) == (binary or not title.startswith("ROC")), title
    assert "expected calibration error" in page and "macro average" in page
    for c in classes:
        assert f"<td>{c}</td>" in page


def test_regression_runs_keep_their_predictions_layout(tmp_path):
    from sklearn.datasets import load_diabetes

    path = tmp_path / "diabetes.csv"
    load_diabetes(as_frame=True).frame.to_csv(path, index=False)
    cfg = parse_config({"name": "reg", "out": str(tmp_path), "members": 1,
                        "data": {"dataset": str(path), "target": "target"},
                        "model": {"hidden": [8]}, "train": {"epochs": 3}})
    d = run(cfg, progress=False).run_dir
    assert list(pd.read_csv(d / "test_predictions.csv").columns) == ["y", "prediction"]
    page = build_report(d).read_text()
    assert "Test predictions" in page and "Feature importance (dev set)" in page
    assert "Per-class metrics" not in page and "Calibration" not in page


HOSTILE_CLASS = "<script>alert('x')</script>"
HOSTILE_COLUMN = "<img src=x onerror=alert(1)>"


def test_class_and_column_names_are_escaped(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    x = rng.normal(size=n)
    frame = pd.DataFrame({HOSTILE_COLUMN: x, "other": rng.normal(size=n),
                          "label": np.where(x > 0, HOSTILE_CLASS, "<b>plain</b>")})
    path = tmp_path / "hostile.csv"
    frame.to_csv(path, index=False)
    cfg = parse_config({"name": "hostile", "out": str(tmp_path), "members": 1,
                        "data": {"dataset": str(path), "target": "label"},
                        "model": {"hidden": [8]}, "train": {"epochs": 5}})
    d = run(cfg, progress=False).run_dir
    written = pd.read_csv(d / "test_predictions.csv")
    assert f"p_{HOSTILE_CLASS}" in written.columns
    page = build_report(d).read_text()
    for title in NEW_SECTIONS:
        assert title in page
    for raw in (HOSTILE_CLASS, HOSTILE_COLUMN, "<b>plain</b>", "<script>alert",
                "<img src"):
        assert raw not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page  # the per-class table
    assert "&lt;b&gt;plain&lt;/b&gt;" in page


def test_an_ensembles_probabilities_are_the_mean_of_its_members(tmp_path):
    cfg = parse_config({"name": "ens", "out": str(tmp_path), "members": 3,
                        "data": {"dataset": "breast_cancer"}, "model": {"hidden": [8]},
                        "optimizer": {"lr": [0.003, 0.01, 0.03]},
                        "train": {"epochs": 3, "loss": "bce",
                                  "ensemble": {"method": "average", "top": 2}}})
    result = run(cfg, progress=False)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    members = summary["ensemble_members"]
    frame = pd.read_csv(result.run_dir / "test_predictions.csv")
    X = torch.as_tensor(result.prepared.splits.test.X)
    p1 = torch.sigmoid(result.population.predict(X)[members].squeeze(-1)).mean(0)
    np.testing.assert_allclose(frame["p_benign"], p1.numpy(), rtol=1e-5, atol=1e-7)
    assert (frame["y"] != frame["prediction"]).mean() == pytest.approx(
        summary["best"]["test_error"])
    imp = json.loads((result.run_dir / "importance_features.json").read_text())
    assert imp["members"] == members
    assert imp["baseline_error"] == pytest.approx(summary["ensemble_dev_error"])
