"""Permutation feature importance on dev: the algorithm, the mapping of one-hot blocks back
to the table's columns, and a trained table run where one column decides and one is noise."""

import json

import numpy as np
import pandas as pd
import pytest

from netrx.config import parse_config
from netrx.experiment import run
from netrx.experiment.importance import column_groups, feature_importance, permutation_importance
from netrx.experiment.prepared import prepare


def test_permutation_importance_of_a_known_rule():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 5))
    X[:, 2:5] = np.eye(3)[rng.integers(0, 3, 500)]  # a one-hot block
    y = X[:, 0] > 0

    def error(values):
        assert np.all(values[:, 2:5].sum(1) == 1)  # the block is shuffled as one
        return float(np.mean((values[:, 0] > 0) != y))

    base, rises = permutation_importance(error, X, [[0], [1], [2, 3, 4]], repeats=4, seed=1)
    assert base == 0.0 and rises.shape == (3, 4)
    assert rises[0].mean() > 0.4  # shuffling the deciding column: ≈ 50 % error
    np.testing.assert_array_equal(rises[1:], 0.0)  # ignored columns: exactly 0
    again = permutation_importance(error, X, [[0], [1], [2, 3, 4]], repeats=4, seed=1)[1]
    np.testing.assert_array_equal(rises, again)  # seeded


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 800
    signal = rng.normal(size=n)
    frame = pd.DataFrame({
        "noise": rng.normal(size=n),
        "colour": rng.choice(["red", "green", "blue"], n),
        "signal": signal,
        "label": np.where(signal > 0, "yes", "no"),
    })
    path = tmp_path_factory.mktemp("table") / "table.csv"
    frame.to_csv(path, index=False)
    return path


def _cfg(path, out, **train):
    return parse_config({"name": "imp", "out": str(out), "members": 2, "seed": 3,
                         "data": {"dataset": str(path), "target": "label"},
                         "model": {"hidden": [16]}, "optimizer": {"lr": 0.01},
                         "train": {"epochs": 30, "batch_size": 32, **train}})


def test_column_groups_map_one_hot_blocks_back_to_columns(table, tmp_path):
    prepared = prepare(_cfg(table, tmp_path))
    groups = dict(column_groups(prepared))
    assert list(groups) == ["noise", "colour", "signal"]
    outputs = prepared.preprocessor.output_columns
    assert [outputs[j] for j in groups["colour"]] == ["colour=blue", "colour=green",
                                                      "colour=red"]
    assert [outputs[j] for j in groups["signal"]] == ["signal"]


def test_images_get_no_importance(tmp_path):
    cfg = parse_config({"out": str(tmp_path), "data": {"dataset": "digits"}})
    assert column_groups(prepare(cfg)) is None


def test_the_deciding_column_ranks_first_and_noise_is_near_zero(table, tmp_path, monkeypatch):
    import netrx.experiment.execute as execute

    looks = []
    real = execute.evaluate_test
    monkeypatch.setattr(execute, "evaluate_test", lambda *a: looks.append(1) or real(*a))
    result = run(_cfg(table, tmp_path), progress=False)
    assert looks == [1]  # writing the importance does not look at the test set again
    assert result.test["error"] < 0.1
    imp = feature_importance(result)
    assert imp is not None and imp["split"] == "dev" and imp["members"] == [result.best]
    # the unshuffled error is the chosen member's dev error in the member table
    assert imp["baseline_error"] == pytest.approx(result.members[result.best]["dev_error"])
    assert imp["rows"] == len(result.prepared.splits.dev.y) and imp["repeats"] == 5
    ranked = [f["column"] for f in imp["features"]]
    assert ranked[0] == "signal" and sorted(ranked) == ["colour", "noise", "signal"]
    by = {f["column"]: f for f in imp["features"]}
    assert by["signal"]["mean"] > 0.25
    assert abs(by["noise"]["mean"]) < 0.03 and abs(by["colour"]["mean"]) < 0.03
    assert by["signal"]["sd"] == pytest.approx(np.std(by["signal"]["values"]))
    written = json.loads((result.run_dir / "importance_features.json").read_text())
    assert [f["column"] for f in written["features"]] == ranked
    assert feature_importance(result, max_rows=50)["rows"] == 50  # the row cap
