"""The data flags of train and improve: --drop, --features, --target-error, rows with a
missing target, an ID column refused with the flag that handles it."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine
from typer.testing import CliRunner

from netrx.cli.app import app
from netrx.config import parse_config
from netrx.data import load
from netrx.errors import ConfigError, DataError
from netrx.experiment import prepare
from netrx.recipe.plan import base_config


@pytest.fixture
def wine_csv(tmp_path):
    """scikit-learn's wine table with what real files have: an ID, a name, missing labels."""
    frame = load_wine(as_frame=True).frame
    frame.insert(0, "id", [f"w{i:04d}" for i in range(len(frame))])
    frame["cultivar"] = frame.pop("target").map({0: "a", 1: "b", 2: "c"})
    frame.loc[[3, 50, 120], "cultivar"] = np.nan
    path = tmp_path / "wine.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_an_id_column_is_refused_with_the_flag_that_drops_it(wine_csv):
    path, _ = wine_csv
    with pytest.raises(DataError, match="--drop id"):
        load(path, target="cultivar")


def test_drop_and_features_choose_the_columns(wine_csv):
    path, frame = wine_csv
    ds = load(path, target="cultivar", drop=["id", "proline"])
    assert "id" not in ds.columns and "proline" not in ds.columns
    assert len(ds.columns) == frame.shape[1] - 3
    ds = load(path, target="cultivar", features=["alcohol", "hue"])
    assert ds.columns == ("alcohol", "hue")
    with pytest.raises(DataError, match="did you mean 'alcohol'"):
        load(path, target="cultivar", drop=["alcohl"])
    with pytest.raises(DataError, match="target column"):
        load(path, target="cultivar", drop=["cultivar"])
    with pytest.raises(ConfigError, match="CSV files only"):
        load("iris", drop=["x"])


def test_rows_without_a_target_are_dropped_and_counted(wine_csv):
    path, frame = wine_csv
    ds = load(path, target="cultivar", drop=["id"])
    assert len(ds.y) == len(frame) - 3
    assert ds.notes == (f"dropped 3 of {len(frame)} rows whose target 'cultivar' is missing",)


def test_train_takes_the_data_flags(wine_csv, tmp_path):
    path, _ = wine_csv
    res = CliRunner().invoke(app, ["train", "--dataset", str(path), "--target", "cultivar",
                                   "--drop", "id,proline", "--target-error", "0.05",
                                   "--epochs", "5", "--out", str(tmp_path), "--name", "w",
                                   "--quiet"])
    assert res.exit_code == 0, res.output
    assert "dropped 3 of 178 rows" in res.output
    cfg = parse_config(__import__("yaml").safe_load((tmp_path / "w" / "config.yaml").read_text()))
    assert cfg.data.drop == ["id", "proline"] and cfg.data.target_error == 0.05
    pred = CliRunner().invoke(app, ["predict", str(tmp_path / "w"), str(path)])
    assert pred.exit_code == 0, pred.output  # the dropped columns are simply not read


def test_improve_takes_the_same_data_flags(wine_csv, monkeypatch):
    path, _ = wine_csv
    cfg = base_config(str(path), target="cultivar",
                      data={"drop": ["id"], "impute": "median", "task": "classification",
                            "features": None})
    assert cfg.data.drop == ["id"] and cfg.data.impute == "median"
    assert cfg.data.features is None and cfg.data.task == "classification"
    assert len(prepare(cfg).splits.train.y) > 0
    seen = {}

    def fake_improve(source, **kwargs):
        seen.update(kwargs, source=source)
        raise KeyboardInterrupt

    monkeypatch.setattr("netrx.recipe.plan.improve", fake_improve)
    res = CliRunner().invoke(app, ["improve", str(path), "--target", "cultivar", "--drop",
                                   "id", "--impute", "mean", "--task", "classification",
                                   "--test", "0", "--budget", "5s"])
    assert res.exit_code == 130
    assert seen["data"] == {"task": "classification", "impute": "mean", "drop": ["id"],
                            "features": None, "test": 0.0}


def test_a_table_with_a_many_level_text_column_trains(tmp_path):
    rng = np.random.default_rng(0)
    states = [f"state{i}" for i in range(51)]
    frame = pd.DataFrame({"state": rng.choice(states, 600), "x": rng.normal(size=600)})
    frame["y"] = (frame["x"] + (frame["state"] < "state2") > 0).astype(int)
    path = tmp_path / "states.csv"
    frame.to_csv(path, index=False)
    prepared = prepare(parse_config({"data": {"dataset": str(path), "target": "y"}}))
    assert prepared.input_shape == (1 + 20,)  # x, 19 frequent states, <infrequent>


def test_tune_takes_the_same_data_flags(wine_csv, tmp_path):
    import yaml

    from netrx.tune import tune

    path, _ = wine_csv
    config = tmp_path / "tune.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"dataset": str(path), "target": "cultivar"}, "model": {"hidden": [8]},
        "train": {"epochs": 3, "batch_size": 32},
        "search": {"space": {"optimizer.lr": "log_uniform(1e-3, 1e-1)"}, "trials": 2,
                   "slots": 2, "strategy": "random", "pruner": "none"}}))
    with pytest.raises(DataError, match="--drop id"):
        tune(config, out=str(tmp_path), name="t0")
    result = tune(config, out=str(tmp_path), data={"drop": ["id"], "impute": None})
    assert result.name == "tune-tune" and result.best_config.data.drop == ["id"]
    res = CliRunner().invoke(app, ["tune", str(config), "--drop", "id,proline", "--out",
                                   str(tmp_path), "--name", "t2", "--quiet"])
    assert res.exit_code == 0, res.output
    best = yaml.safe_load((tmp_path / "t2" / "best.yaml").read_text())
    assert best["data"]["drop"] == ["id", "proline"]
