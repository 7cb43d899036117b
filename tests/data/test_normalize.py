import json

import numpy as np
import pytest

from netrx.data import Preprocessor, Standardizer, load, split
from netrx.errors import ConfigError, DataError


def _train_dev(seed=0):
    rng = np.random.default_rng(seed)
    train = rng.normal(loc=[1.0, -3.0, 5.0, 0.0], scale=[2.0, 0.5, 1.0, 3.0], size=(200, 4))
    train[:, 2] = 5.0  # a constant feature: σ = 0
    dev = rng.normal(loc=10.0, scale=7.0, size=(50, 4))
    return train, dev


# --------------------------------------------------------------------------- Standardizer


def test_standardizer_matches_numpy_by_hand():
    train, dev = _train_dev()
    std = Standardizer().fit(train)
    mu = train.sum(axis=0) / len(train)
    sigma = np.sqrt(((train - mu) ** 2).sum(axis=0) / len(train))
    sigma_used = np.where(sigma == 0, 1.0, sigma)
    np.testing.assert_allclose(std.mean_, mu)
    np.testing.assert_allclose(std.scale_, sigma_used)

    z = std.transform(train)
    assert z.dtype == np.float32
    varying = [0, 1, 3]
    np.testing.assert_allclose(z[:, varying].mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(z[:, varying].std(axis=0), 1, atol=1e-5)  # σ, not σ²
    np.testing.assert_array_equal(z[:, 2], 0)  # constant: centred

    # dev goes through the statistics of train, not its own
    np.testing.assert_allclose(std.transform(dev), (dev - mu) / sigma_used, rtol=1e-5, atol=1e-5)
    # the constant feature is centred but not scaled
    np.testing.assert_allclose(std.transform(dev)[:, 2], dev[:, 2] - 5.0, rtol=1e-6)


def test_standardizer_keeps_image_shape_and_round_trips():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 1, 8, 8)) * 4 + 2
    std = Standardizer().fit(X)
    out = std.transform(X)
    assert out.shape == (30, 1, 8, 8) and out.dtype == np.float32
    np.testing.assert_allclose(out.reshape(30, -1).std(axis=0), 1, atol=1e-5)
    state = json.loads(json.dumps(std.state_dict()))
    again = Standardizer.from_state_dict(state)
    np.testing.assert_array_equal(again.transform(X), out)


def test_empty_input_transforms_to_empty():
    std = Standardizer().fit(np.ones((3, 1, 2, 2)))
    assert std.transform(np.zeros((0, 1, 2, 2))).shape == (0, 1, 2, 2)
    pre = Preprocessor().fit(_table([(1.0, "a"), (2.0, "b")]), COLUMNS, categorical=[1])
    assert pre.transform(np.empty((0, 2), dtype=object)).shape == (0, 3)


def test_standardizer_errors():
    with pytest.raises(DataError, match="not fitted"):
        Standardizer().transform(np.zeros((2, 2)))
    std = Standardizer().fit(np.arange(6.0).reshape(3, 2))
    with pytest.raises(DataError, match="3 features"):
        std.transform(np.zeros((2, 3)))
    with pytest.raises(DataError, match="NaN"):
        Standardizer().fit(np.array([[1.0], [np.nan]]))


# --------------------------------------------------------------------------- Preprocessor


def _table(rows):
    X = np.empty((len(rows), 2), dtype=object)
    for i, (size, color) in enumerate(rows):
        X[i] = (size, color)
    return X


COLUMNS = ("size", "color")


def test_one_hot_fitted_on_train_only():
    train = _table([(1.0, "red"), (2.0, "green"), (3.0, "red"), (6.0, "green")])
    dev = _table([(2.0, "blue"), (4.0, "red")])
    pre = Preprocessor().fit(train, COLUMNS, categorical=[1])
    assert pre.output_columns == ("size", "color=green", "color=red")
    assert pre.input_shape_ == (3,)

    hot_train = np.array([[1, 0, 1], [2, 1, 0], [3, 0, 1], [6, 1, 0]], dtype=float)
    mu, sigma = hot_train.mean(axis=0), hot_train.std(axis=0)
    np.testing.assert_allclose(pre.transform(train), (hot_train - mu) / sigma, atol=1e-6)
    # unseen 'blue' → all-zero one-hot block before standardization
    hot_dev = np.array([[2, 0, 0], [4, 0, 1]], dtype=float)
    out = pre.transform(dev)
    assert out.dtype == np.float32 and out.shape == (2, 3)
    np.testing.assert_allclose(out, (hot_dev - mu) / sigma, atol=1e-6)


def test_missing_values_without_impute_name_counts_per_column():
    train = _table([(np.nan, "red"), (2.0, None), (np.nan, "red"), (6.0, "green")])
    with pytest.raises(DataError) as e:
        Preprocessor().fit(train, COLUMNS, categorical=[1])
    msg = str(e.value)
    assert "size: 2" in msg and "color: 1" in msg and "--impute mean|median|most_frequent" in msg


@pytest.mark.parametrize(
    ("impute", "size_fill"),
    [
        ("mean", (1 + 2 + 2 + 11) / 4),
        ("median", 2.0),
        ("most_frequent", 2.0),
    ],
)
def test_impute_from_train_only(impute, size_fill):
    train = _table([(1.0, "red"), (2.0, "green"), (np.nan, None), (2.0, "red"), (11.0, "red")])
    dev = _table([(np.nan, None), (1000.0, "green")])  # dev statistics must not leak in
    pre = Preprocessor(impute=impute).fit(train, COLUMNS, categorical=[1])
    assert pre.fill_ == [pytest.approx(size_fill), "red"]  # text: always most frequent

    filled = _table([(size_fill, "red"), (1000.0, "green")])
    np.testing.assert_allclose(pre.transform(dev), pre.transform(filled), atol=1e-6)
    # the σ of train includes the imputed value
    sizes = np.array([1.0, 2.0, size_fill, 2.0, 11.0])
    np.testing.assert_allclose(pre.standardizer_.mean_[0], sizes.mean())
    np.testing.assert_allclose(pre.standardizer_.scale_[0], sizes.std())


def test_most_frequent_ties_take_the_smallest():
    X = np.array([[3.0], [1.0], [3.0], [1.0], [np.nan]])
    pre = Preprocessor(impute="most_frequent").fit(X)
    assert pre.fill_ == [1.0]


def test_numeric_data_is_just_the_standardizer():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 1, 8, 8)).astype(np.float32)
    pre = Preprocessor().fit(X)
    assert pre.input_shape_ == (1, 8, 8) and len(pre.output_columns) == 64
    np.testing.assert_allclose(pre.transform(X), Standardizer().fit(X).transform(X))


def test_preprocessor_state_dict_is_json_and_round_trips():
    train = _table([(1.0, "red"), (np.nan, "green"), (3.0, None), (6.0, "green")])
    pre = Preprocessor(impute="median").fit(train, COLUMNS, categorical=[1])
    state = json.loads(json.dumps(pre.state_dict()))
    again = Preprocessor.from_state_dict(state)
    new = _table([(np.nan, "blue"), (5.0, None)])
    np.testing.assert_array_equal(again.transform(new), pre.transform(new))
    assert again.output_columns == pre.output_columns and again.input_shape_ == (3,)


def test_preprocessor_errors():
    with pytest.raises(ConfigError, match="did you mean 'median'"):
        Preprocessor(impute="medain")
    pre = Preprocessor().fit(_table([(1.0, "a"), (2.0, "b")]), COLUMNS, categorical=[1])
    with pytest.raises(DataError, match="'size' should be numeric"):
        pre.transform(_table([("big", "a")]))
    with pytest.raises(DataError, match="features per example"):
        pre.transform(np.zeros((2, 3)))
    with pytest.raises(DataError, match="no values in the training set"):
        Preprocessor(impute="mean").fit(np.array([[np.nan, 1.0], [np.nan, 2.0]]))


def test_csv_end_to_end(tmp_path):
    lines = ["size,color,label"] + [
        f"{'' if i % 7 == 0 else i},{['red', 'green', 'blue'][i % 3]},{'ab'[i % 2]}"
        for i in range(60)
    ]
    (tmp_path / "t.csv").write_text("\n".join(lines))
    ds = load(tmp_path / "t.csv", target="label")
    s = split(ds, seed=0)
    pre = Preprocessor(impute="mean").fit(s.train.X, ds.columns, ds.categorical)
    out = pre.transform(s.test.X)
    assert out.shape == (len(s.test), 4) and np.isfinite(out).all()
    assert pre.output_columns == ("size", "color=blue", "color=green", "color=red")


def test_inverse_transform_undoes_transform():
    rng = np.random.default_rng(3)
    y = rng.normal(50, 12, size=(40, 1))
    std = Standardizer().fit(y)
    np.testing.assert_allclose(std.inverse_transform(std.transform(y)), y, rtol=1e-6)
    np.testing.assert_allclose(std.inverse_transform(np.zeros((2, 1))), [[y.mean()]] * 2)


def test_many_levels_keep_the_frequent_ones_and_an_infrequent_column():
    from netrx.data.dataset import MAX_CATEGORIES
    from netrx.data.normalize import INFREQUENT

    rng = np.random.default_rng(0)
    common = [f"s{i:02d}" for i in range(MAX_CATEGORIES - 1)]
    rare = [f"r{i}" for i in range(30)]
    values = common * 10 + rare  # 19 levels seen 10 times, 30 seen once
    X = np.array([[v, float(rng.normal())] for v in values], dtype=object)
    pre = Preprocessor().fit(X, ["state", "x"], categorical=[0])
    assert pre.categories_[0] == sorted(common) + [INFREQUENT]
    assert len(pre.output_columns) == MAX_CATEGORIES + 1
    new = np.array([["r3", 0.0], ["never-seen", 0.0], ["s05", 0.0]], dtype=object)
    Z = pre.transform(new)
    block = [pre.output_columns.index(f"state={c}") for c in (INFREQUENT, "s05")]
    hot = Z[:, block] > Z[:, block].mean(0)  # standardized one-hot: above the mean = 1
    assert hot.tolist() == [[True, False], [True, False], [False, True]]
    again = Preprocessor.from_state_dict(json.loads(json.dumps(pre.state_dict())))
    np.testing.assert_allclose(again.transform(new), Z)


def test_standardizer_state_keeps_the_input_shape():
    X = np.random.default_rng(1).normal(size=(10, 2, 3)).astype(np.float32)
    std = Standardizer().fit(X)
    again = Standardizer.from_state_dict(json.loads(json.dumps(std.state_dict())))
    assert std.input_shape_ == again.input_shape_ == (2, 3)
    np.testing.assert_allclose(again.transform(X), std.transform(X))
