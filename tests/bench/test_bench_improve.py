"""bench/improve.py: the peers see exactly netrx's split, and a part's result is the
model's accuracy on that split's test set (recomputed here); the table prints every part.

No wall-clock bounds: the budgets are only printed."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from netrx.config import parse_config
from netrx.experiment import prepare

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "improve.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_improve", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_peers_get_netrx_split_and_standardisation(bench):
    d = bench.load_splits("digits")
    s = prepare(parse_config({"data": {"dataset": "digits"}, "seed": 0})).splits
    np.testing.assert_array_equal(d["X_test"], s.test.X.reshape(len(s.test.X), -1))
    np.testing.assert_array_equal(d["y_dev"], s.dev.y)
    assert abs(float(d["X_train"].mean())) < 0.05  # standardised on the training set


def test_default_mlp_part_reports_its_test_accuracy_and_the_table_shows_it(bench, tmp_path,
                                                                         capsys):
    from sklearn.neural_network import MLPClassifier

    row = bench.run_sklearn_default("digits", budget=60.0)
    d = bench.load_splits("digits")
    X = np.concatenate([d["X_train"], d["X_dev"]])
    y = np.concatenate([d["y_train"], d["y_dev"]])
    expected = MLPClassifier(random_state=0).fit(X, y).score(d["X_test"], d["y_test"])
    assert row["test_acc"] == pytest.approx(expected)
    (tmp_path / f"{row['part']}.json").write_text(json.dumps(row))
    bench.print_table(tmp_path)
    out = capsys.readouterr().out
    assert "MLPClassifier() defaults" in out and f"{100 * expected:.1f}%" in out
