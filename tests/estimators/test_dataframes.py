"""The estimators on a raw DataFrame with text and missing values: netrx's own table
preprocessing, no ColumnTransformer (``could not convert string to float: 'Torgersen'``)."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import train_test_split

from netrx.data.transformer import TablePreprocessor, needs_preprocessing
from netrx.estimators import NetClassifier, NetRegressor


def _with_text_and_gaps(frame: pd.DataFrame, column: str, seed: int = 0) -> pd.DataFrame:
    """``frame`` with a text column cut from ``column`` and 5 % of another column missing."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    out["size"] = pd.qcut(out[column], 3, labels=["small", "medium", "large"]).astype(str)
    other = out.columns[1]
    out.loc[rng.random(len(out)) < 0.05, other] = np.nan
    out.loc[rng.random(len(out)) < 0.05, "size"] = None
    return out.drop(columns=[column])


def test_a_classifier_takes_a_frame_with_text_and_missing_values():
    data = load_breast_cancer(as_frame=True)
    X = _with_text_and_gaps(data.data, "mean radius")
    assert needs_preprocessing(X) and X.isna().any().any()
    Xtr, Xte, ytr, yte = train_test_split(X, data.target, test_size=0.25, random_state=0,
                                          stratify=data.target)
    clf = NetClassifier(hidden=(32,), epochs=30, random_state=0, device="cpu").fit(Xtr, ytr)
    assert clf.n_features_in_ == X.shape[1]
    assert list(clf.feature_names_in_) == list(X.columns)
    assert clf.score(Xte, yte) > 0.9
    proba = clf.predict_proba(Xte)
    assert proba.shape == (len(Xte), 2) and np.allclose(proba.sum(1), 1)
    again = pickle.loads(pickle.dumps(clf))  # the preprocessing travels with the model
    assert np.array_equal(again.predict(Xte), clf.predict(Xte))
    shuffled = Xte[list(reversed(X.columns))]  # columns are matched by name
    assert np.array_equal(clf.predict(shuffled), clf.predict(Xte))


def test_a_regressor_takes_a_frame_with_text_and_missing_values():
    data = load_diabetes(as_frame=True)
    X = _with_text_and_gaps(data.data, "bmi")
    Xtr, Xte, ytr, yte = train_test_split(X, data.target, test_size=0.25, random_state=0)
    reg = NetRegressor(hidden=(32,), epochs=100, random_state=0, device="cpu",
                       early_stopping=10).fit(Xtr, ytr)
    assert reg.score(Xte, yte) > 0.2  # R² of a plain net on diabetes: about 0.4–0.5
    assert reg.predict(Xte).shape == (len(Xte),)


def test_numpy_arrays_stay_strict():
    """A NaN in an array is still an error (scikit-learn's contract, check_estimator)."""
    X = np.random.default_rng(0).normal(size=(20, 3))
    X[0, 0] = np.nan
    with pytest.raises(ValueError):
        NetClassifier(epochs=1).fit(X, np.arange(20) % 2)


def test_the_transformer_names_its_outputs_and_encodes_unseen_levels():
    frame = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0], "c": ["x", "y", "x", None]})
    t = TablePreprocessor(impute="median").fit(frame)
    assert list(t.get_feature_names_out()) == ["a", "c=x", "c=y"]
    out = t.transform(pd.DataFrame({"a": [3.0], "c": ["z"]}))  # a level never seen
    assert out.shape == (1, 3) and np.isfinite(out).all()
    with pytest.raises(Exception, match="lacks the columns"):
        t.transform(pd.DataFrame({"a": [1.0]}))
