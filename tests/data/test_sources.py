import random
import urllib.request

import numpy as np
import pytest

from netrx.data import Dataset, builtin_names, describe_builtins, load, sources
from netrx.data.sources import MAX_CATEGORIES, validate
from netrx.errors import ConfigError, DataError


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty on-disk cache and an empty in-memory cache for mnist1d."""
    monkeypatch.setenv("NETRX_CACHE", str(tmp_path / "cache"))
    sources._mnist1d_arrays.cache_clear()
    yield tmp_path / "cache"
    sources._mnist1d_arrays.cache_clear()


def _no_network(*args, **kwargs):
    raise AssertionError("netrx must never download a dataset")


# --------------------------------------------------------------------------- built-ins


def test_mnist1d_shapes_and_global_rng_untouched(fresh_cache, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    requests = pytest.importorskip("requests")
    monkeypatch.setattr(requests, "get", _no_network)
    np.random.seed(123)
    random.seed(123)
    np_before, py_before = np.random.get_state(), random.getstate()

    ds = load("mnist1d")

    np_after = np.random.get_state()
    assert np_after[0] == np_before[0]
    np.testing.assert_array_equal(np_after[1], np_before[1])
    assert np_after[2:] == np_before[2:]
    assert random.getstate() == py_before
    assert ds.X.shape == (4000, 40) and ds.X.dtype == np.float32
    assert ds.y.shape == (4000,) and ds.y.dtype == np.int64
    assert ds.X_test.shape == (1000, 40) and ds.y_test.shape == (1000,)
    assert ds.n_classes == 10 and ds.n_examples == 4000
    assert ds.input_shape == (40,) and len(ds.columns) == 40
    assert ds.task == "classification"
    assert set(np.unique(ds.y)) == set(range(10))


def test_mnist1d_disk_cache_is_used_and_equal(fresh_cache, monkeypatch):
    first = load("mnist1d")
    files = list(fresh_cache.iterdir())
    assert [f.suffix for f in files] == [".npz"]  # no temporary file left behind

    first.X[0, 0] = 1e6  # a caller's copy; must not reach the caches
    sources._mnist1d_arrays.cache_clear()
    import mnist1d.data

    monkeypatch.setattr(mnist1d.data, "make_dataset", _no_network)
    second = load("mnist1d")
    assert second.X[0, 0] != 1e6
    for key in ("X", "y", "X_test", "y_test"):
        assert getattr(second, key).dtype == getattr(first, key).dtype
    np.testing.assert_array_equal(second.y, first.y)
    np.testing.assert_array_equal(second.X_test, first.X_test)
    np.testing.assert_array_equal(second.X[1:], first.X[1:])


def test_digits_is_an_image_dataset():
    ds = load("digits")
    assert ds.X.shape == (1797, 1, 8, 8) and ds.X.dtype == np.float32
    assert ds.input_shape == (1, 8, 8)
    assert len(ds.columns) == 64
    assert ds.n_classes == 10 and ds.X_test is None and ds.categorical == ()


@pytest.mark.parametrize(
    ("name", "n", "d", "k"),
    [
        ("iris", 150, 4, 3),
        ("wine", 178, 13, 3),
        ("breast_cancer", 569, 30, 2),
    ],
)
def test_sklearn_tables(name, n, d, k):
    ds = load(name)
    assert ds.X.shape == (n, d) and ds.n_classes == k and ds.X_test is None
    assert len(ds.columns) == d


def test_describe_builtins(fresh_cache):
    rows = describe_builtins()
    assert [r["name"] for r in rows] == builtin_names()
    assert set(builtin_names()) == {"mnist1d", "digits", "wine", "breast_cancer", "iris"}
    by_name = {r["name"]: r for r in rows}
    assert by_name["mnist1d"]["has_test_split"] and by_name["mnist1d"]["n_test"] == 1000
    assert by_name["digits"]["input_shape"] == (1, 8, 8)
    assert not by_name["iris"]["has_test_split"]
    assert {"n_examples", "n_classes", "task"} <= set(by_name["wine"])


def test_unknown_name_suggests_and_lists_builtins():
    with pytest.raises(DataError) as e:
        load("mnist")
    msg = str(e.value)
    assert "'mnist'" in msg and "did you mean 'mnist1d'" in msg and "digits" in msg


def test_missing_file_and_unsupported_suffix(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load(tmp_path / "nope.csv")
    (tmp_path / "data.txt").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="unsupported file type"):
        load(tmp_path / "data.txt")


def test_bad_task_and_misused_target():
    with pytest.raises(ConfigError, match="did you mean 'regression'"):
        load("iris", task="regresion")
    with pytest.raises(ConfigError):
        load("iris", target="species")
    with pytest.raises(ConfigError):
        load("iris", task="regression")


# --------------------------------------------------------------------------- CSV


def _write_csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(map(str, r)) for r in rows))
    return path


@pytest.fixture
def animals_csv(tmp_path):
    colors = ["red", "green", "blue"]
    rows = [(i * 0.5, colors[i % 3], "cat" if i % 2 else "dog") for i in range(30)]
    return _write_csv(tmp_path / "animals.csv", ["size", "color", "label"], rows)


def test_csv_string_labels_and_categorical(animals_csv):
    ds = load(animals_csv, target="label")
    assert ds.name == "animals" and ds.task == "classification"
    assert ds.classes == ("cat", "dog")
    assert ds.y.dtype == np.int64 and ds.y[0] == 1 and ds.y[1] == 0  # row 0 is a dog
    assert ds.columns == ("size", "color") and ds.categorical == (1,)
    assert ds.X.dtype == object and ds.X.shape == (30, 2) and ds.input_shape == (2,)
    assert ds.X[0, 1] == "red" and ds.X[1, 0] == 0.5


def test_csv_numeric_only_is_float32_and_task_inference(tmp_path):
    rows = [(i, i % 3, i * 0.25) for i in range(30)]
    path = _write_csv(tmp_path / "t.csv", ["a", "k", "v"], rows)
    ds = load(path, target="k")
    assert ds.task == "classification" and ds.classes == ("0", "1", "2")
    assert ds.X.dtype == np.float32 and ds.categorical == ()
    reg = load(path, target="v")
    assert reg.task == "regression" and reg.y.dtype == np.float32 and reg.classes == ()
    many = load(path, target="a")  # 30 distinct integers in 30 rows: a quantity
    assert many.task == "regression"
    forced = load(path, target="k", task="regression")
    assert forced.task == "regression" and forced.y.dtype == np.float32


def test_csv_target_errors(animals_csv, tmp_path):
    with pytest.raises(DataError) as e:
        load(animals_csv, target="lable")
    assert "did you mean 'label'" in str(e.value) and "size, color, label" in str(e.value)
    with pytest.raises(DataError, match="target="):
        load(animals_csv)
    with pytest.raises(DataError, match="cannot be a regression target"):
        load(animals_csv, target="label", task="regression")
    path = _write_csv(tmp_path / "m.csv", ["a", "y"], [(1, 0), (2, ""), (3, 1), (4, "")])
    ds = load(path, target="y")  # rows without a target are dropped, and counted
    assert len(ds.y) == 2 and ds.notes == ("dropped 2 of 4 rows whose target 'y' is missing",)
    empty = _write_csv(tmp_path / "e.csv", ["a", "y"], [(1, ""), (2, "")])
    with pytest.raises(DataError, match="has no values"):
        load(empty, target="y")


def test_csv_missing_features_are_kept(tmp_path):
    rows = [(1.0, "a", 0), ("", "b", 1), (3.0, "", 0), (4.0, "a", 1)] * 5
    ds = load(_write_csv(tmp_path / "m.csv", ["x", "c", "y"], rows), target="y")
    assert ds.X.dtype == object
    assert np.isnan(ds.X[1, 0]) and ds.X[2, 1] is None


def test_csv_too_many_categories(tmp_path):
    n = MAX_CATEGORIES + 5
    rows = [(f"id{i}", i % 2) for i in range(2 * n)]
    with pytest.raises(DataError) as e:
        load(_write_csv(tmp_path / "ids.csv", ["id", "y"], rows), target="y")
    msg = str(e.value)
    assert "'id'" in msg and str(2 * n) in msg and "drop" in msg


# --------------------------------------------------------------------------- NPZ


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2, 3, 3))
    y = np.array([3, 5, 7, 5] * 5)
    path = tmp_path / "imgs.npz"
    np.savez(path, X=X, y=y, X_test=X[:4], y_test=y[:4])
    ds = load(path)
    assert ds.task == "classification" and ds.classes == ("3", "5", "7")
    assert ds.input_shape == (2, 3, 3) and ds.X.dtype == np.float32
    np.testing.assert_allclose(ds.X, X.astype(np.float32))
    np.testing.assert_array_equal(ds.y, [0, 1, 2, 1] * 5)
    np.testing.assert_array_equal(ds.y_test, [0, 1, 2, 1])
    assert len(ds.columns) == 18


def test_npz_string_and_float_targets(tmp_path):
    X = np.arange(12.0).reshape(6, 2)
    np.savez(tmp_path / "s.npz", X=X, y=np.array(["b", "a", "b", "a", "c", "c"]))
    assert load(tmp_path / "s.npz").classes == ("a", "b", "c")
    np.savez(tmp_path / "f.npz", X=X, y=np.linspace(0, 1, 6))
    reg = load(tmp_path / "f.npz")
    assert reg.task == "regression" and reg.y.dtype == np.float32


def test_npz_missing_arrays(tmp_path):
    np.savez(tmp_path / "bad.npz", X=np.zeros((3, 2)), z=np.zeros(3))
    with pytest.raises(DataError) as e:
        load(tmp_path / "bad.npz")
    assert "y" in str(e.value) and "found: X, z" in str(e.value)


def test_npz_unseen_test_label(tmp_path):
    X = np.zeros((4, 2))
    np.savez(tmp_path / "u.npz", X=X, y=[0, 1, 0, 1], X_test=X[:2], y_test=[1, 2])
    with pytest.raises(DataError, match="not in the training labels"):
        load(tmp_path / "u.npz")


@pytest.mark.parametrize(("value", "text"), [(np.nan, "1 NaN"), (np.inf, "1 infinite")])
def test_non_finite_features(tmp_path, value, text):
    X = np.ones((6, 3))
    X[2, 1] = value
    np.savez(tmp_path / "nf.npz", X=X, y=[0, 1] * 3)
    with pytest.raises(DataError, match=text):
        load(tmp_path / "nf.npz")


def test_length_mismatch(tmp_path):
    np.savez(tmp_path / "lm.npz", X=np.zeros((10, 2)), y=np.arange(9) % 2)
    with pytest.raises(DataError) as e:
        load(tmp_path / "lm.npz")
    assert "10" in str(e.value) and "9" in str(e.value)


def test_one_class(tmp_path):
    np.savez(tmp_path / "one.npz", X=np.zeros((5, 2)), y=np.zeros(5, dtype=int))
    with pytest.raises(DataError, match="only one class"):
        load(tmp_path / "one.npz")


def test_validate_empty_and_defaults():
    ds = Dataset("toy", np.zeros((4, 3), np.float32), np.array([0, 1, 0, 1]), "classification")
    assert ds.input_shape == (3,) and ds.columns == ("x0", "x1", "x2")
    assert ds.classes == ("0", "1")
    assert validate(ds) is ds
    empty = Dataset("e", np.zeros((0, 3), np.float32), np.zeros(0, np.int64), "classification")
    with pytest.raises(DataError, match="empty"):
        validate(empty)


def test_csv_many_levels_are_encoded_dates_and_broken_numbers_refused(tmp_path):
    n = MAX_CATEGORIES + 11
    rows = [(f"state{i % n}", i % 2) for i in range(4 * n)]  # 31 levels, each 4 times
    ds = load(_write_csv(tmp_path / "states.csv", ["state", "y"], rows), target="y")
    assert ds.categorical == (0,)
    dates = [(f"2024-01-{1 + i % 28:02d} 10:{i % 60:02d}", i % 2) for i in range(4 * n)]
    with pytest.raises(DataError, match="looks like dates.*--drop when"):
        load(_write_csv(tmp_path / "d.csv", ["when", "y"], dates), target="y")
    spoilt = [(str(i) if i % 9 else f"n/a{i}", i % 2) for i in range(4 * n)]
    with pytest.raises(DataError, match="most are numbers.*--drop amount"):
        load(_write_csv(tmp_path / "s.csv", ["amount", "y"], spoilt), target="y")
