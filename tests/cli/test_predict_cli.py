"""``netrx predict``: --out is a directory, --keep passes ID columns through, --json is
for scripts, and new data that training never saw is warned about once, with counts."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from typer.testing import CliRunner

from netrx.cli.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("predict")
    iris = load_iris(as_frame=True).frame
    iris["site"] = np.where(iris["sepal length (cm)"] > 5.8, "north", "south")
    iris.insert(0, "id", [f"r{i}" for i in range(len(iris))])
    iris.to_csv(d / "train.csv", index=False)
    result = runner.invoke(app, ["train", "--dataset", str(d / "train.csv"), "--target", "target",
                                 "--task", "classification", "--drop", "id", "--epochs", "5",
                                 "--out", str(d), "--name", "r", "--quiet"])
    assert result.exit_code == 0, result.output
    new = iris.drop(columns="target").head(6).copy()
    new.loc[0, "site"] = "east"  # a level never seen
    new.loc[1, "petal length (cm)"] = 400.0  # far outside the training range
    new.to_csv(d / "new.csv", index=False)
    return d


def test_out_is_a_directory_and_keep_passes_ids_through(run):
    result = runner.invoke(app, ["predict", str(run / "r"), str(run / "new.csv"),
                                 "--out", str(run / "preds"), "--keep", "id"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(run / "preds" / "predictions.csv")
    assert list(frame["id"]) == [f"r{i}" for i in range(6)]
    assert list(frame.columns[:2]) == ["id", "prediction"]


def test_a_file_for_out_is_refused_with_the_directory_form(run):
    result = runner.invoke(app, ["predict", str(run / "r"), str(run / "new.csv"),
                                 "--out", str(run / "p.csv")])
    assert result.exit_code == 2
    assert "names a file" in result.output and not (run / "p.csv").exists()


def test_unseen_levels_and_far_values_are_warned_about_with_counts(run):
    result = runner.invoke(app, ["predict", str(run / "r"), str(run / "new.csv")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "warning: column 'site': 1 of 6 values were not among its training levels" in text
    assert "'east'" in text
    assert "column 'petal length (cm)': 1 of 6 values lie more than 6" in text


def test_json_is_for_scripts(run):
    result = runner.invoke(app, ["predict", str(run / "r"), str(run / "train.csv"), "--json",
                                 "--keep", "id"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(data["predictions"]) == 150 and data["predictions"][0]["id"] == "r0"
    assert {"prediction", "p_0", "p_1", "p_2"} <= set(data["predictions"][0])
    assert 0.0 <= data["metrics"]["accuracy"] <= 1.0 and data["metrics"]["n"] == 150


def test_keep_names_a_missing_column(run):
    result = runner.invoke(app, ["predict", str(run / "r"), str(run / "new.csv"),
                                 "--keep", "nope"])
    assert result.exit_code == 2 and "no such column" in result.output
