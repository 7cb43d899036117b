import warnings

import numpy as np
import pytest

from netrx.data import Dataset, split
from netrx.errors import ConfigError, DataError


def _classification(counts=(50, 30, 15, 5), seed=0):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(len(counts)), counts)).astype(np.int64)
    X = np.arange(len(y), dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    return Dataset("toy", X, y, "classification")


def _ids(part):
    return part.X[:, 0].astype(int)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sizes_cover_and_stratification(seed):
    ds = _classification()
    s = split(ds, dev=0.2, test=0.2, seed=seed)
    assert (len(s.train), len(s.dev), len(s.test)) == (60, 20, 20)
    ids = np.concatenate([_ids(s.train), _ids(s.dev), _ids(s.test)])
    np.testing.assert_array_equal(np.sort(ids), np.arange(100))  # disjoint, complete
    np.testing.assert_array_equal(s.train.y, ds.y[_ids(s.train)])  # labels follow rows
    counts = np.bincount(ds.y)
    for part, f in [(s.dev, 0.2), (s.test, 0.2), (s.train, 0.6)]:
        got = np.bincount(part.y, minlength=4)
        tolerance = 1 if part is not s.train else 2
        assert np.all(np.abs(got - counts * f) <= tolerance), (got, counts * f)


def test_stratification_with_uneven_fractions():
    ds = _classification(counts=(37, 23, 11, 29))
    s = split(ds, dev=0.15, test=0.25, seed=3)
    counts = np.bincount(ds.y)
    assert len(s.dev) == 15 and len(s.test) == 25
    for part, f in [(s.dev, 0.15), (s.test, 0.25)]:
        assert np.all(np.abs(np.bincount(part.y, minlength=4) - counts * f) <= 1)


def test_deterministic_by_seed():
    ds = _classification()
    a, b, c = split(ds, seed=7), split(ds, seed=7), split(ds, seed=8)
    for name in ("train", "dev", "test"):
        np.testing.assert_array_equal(getattr(a, name).X, getattr(b, name).X)
        np.testing.assert_array_equal(getattr(a, name).y, getattr(b, name).y)
    assert not np.array_equal(_ids(a.test), _ids(c.test))


def test_own_test_split_is_kept():
    base = _classification()
    X_test = np.full((7, 3), -1.0, np.float32)
    y_test = np.array([0, 1, 2, 3, 0, 1, 2])
    ds = Dataset("own", base.X, base.y, "classification", X_test=X_test, y_test=y_test)
    s = split(ds, dev=0.25, test=0.9)  # test fraction ignored
    assert s.test.X is X_test and s.test.y is y_test
    assert (len(s.train), len(s.dev)) == (75, 25)


def test_regression_and_zero_fractions():
    X = np.arange(10, dtype=np.float32)[:, None]
    ds = Dataset("reg", X, np.linspace(0, 1, 10, dtype=np.float32), "regression")
    s = split(ds, dev=0.0, test=0.3)
    assert (len(s.train), len(s.dev), len(s.test)) == (7, 0, 3)
    assert s.dev.X.shape == (0, 1) and s.dev.y.dtype == np.float32
    np.testing.assert_array_equal(s.train.y, ds.y[s.train.X[:, 0].astype(int)])


@pytest.mark.parametrize(("dev", "test"), [(-0.1, 0.2), (0.2, 1.0), (0.5, 0.5), (float("nan"), 0)])
def test_bad_fractions(dev, test):
    with pytest.raises(ConfigError):
        split(_classification(), dev=dev, test=test)


def test_too_few_examples():
    ds = Dataset("tiny", np.zeros((2, 1), np.float32), np.array([0, 1]), "classification")
    with pytest.raises(DataError, match="too few"):
        split(ds, dev=0.2, test=0.2)


def test_rare_class_warns_and_stays_in_train():
    ds = _classification(counts=(20, 19, 1))
    with pytest.warns(UserWarning, match="cannot appear in every split"):
        s = split(ds, seed=0)
    assert 2 in s.train.y


def test_no_warning_when_stratification_is_possible():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split(_classification())


def test_split_validates():
    ds = Dataset("bad", np.zeros((5, 2), np.float32), np.array([0, 1, 0, 1]), "classification")
    with pytest.raises(DataError, match="5 rows"):
        split(ds)
