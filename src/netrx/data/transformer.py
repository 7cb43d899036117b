"""netrx's table preprocessing as a scikit-learn transformer: :class:`TablePreprocessor`.

The same steps as ``netrx train`` on a CSV (:class:`~netrx.data.Preprocessor`): missing
values imputed with the training column's mean / median / most frequent value (text:
most frequent), text columns one-hot encoded (at most
:data:`~netrx.data.normalize.MAX_CATEGORIES` levels: the rarer ones share one
``<infrequent>`` column; an unseen level goes there too), then standardization
x := (x − μ)/σ with the training rows' μ and σ. It takes a pandas DataFrame (text
columns are those of a non-numeric dtype) or a NumPy array, so it works in a
``Pipeline`` or ``ColumnTransformer``; :class:`~netrx.estimators.NetClassifier` and
:class:`~netrx.estimators.NetRegressor` use it by themselves when given a DataFrame
with text or missing values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from netrx.data.normalize import Preprocessor
from netrx.data.sources import features_from_frame
from netrx.errors import DataError


def _is_frame(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "dtypes")


def needs_preprocessing(X: Any) -> bool:
    """True for a DataFrame with a text (non-numeric) column or a missing value: what the
    estimators' plain float validation would refuse."""
    if not _is_frame(X):
        return False
    import pandas as pd

    text = any(not (pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t))
               for t in X.dtypes)
    return text or bool(X.isna().to_numpy().any())


class TablePreprocessor(TransformerMixin, BaseEstimator):
    """Impute → one-hot → standardize, fitted on the rows given to :meth:`fit`.

    Args:
        impute: ``mean``, ``median`` or ``most_frequent`` for missing numbers (text
            always takes its most frequent value), or None to refuse missing values.

    Learned attributes: ``n_features_in_``, ``feature_names_in_`` (a DataFrame's
    columns), ``preprocessor_`` (the :class:`~netrx.data.Preprocessor`).
    """

    def __init__(self, impute: str | None = "mean") -> None:
        self.impute = impute

    def _features(self, X: Any) -> tuple[np.ndarray, tuple[int, ...], list[str]]:
        if _is_frame(X):
            values, categorical = features_from_frame(X, "the DataFrame")
            return values, categorical, [str(c) for c in X.columns]
        values = np.asarray(X)
        if values.ndim != 2:
            raise DataError(f"expected a 2-D table, got an array of shape {values.shape}")
        categorical = () if values.dtype != object else tuple(
            j for j in range(values.shape[1])
            if any(isinstance(v, str) for v in values[:, j]))
        return values, categorical, [f"x{j}" for j in range(values.shape[1])]

    def fit(self, X: Any, y: Any = None) -> TablePreprocessor:
        """Learn fill values, categories, μ and σ from X."""
        values, categorical, names = self._features(X)
        self.preprocessor_ = Preprocessor(impute=self.impute).fit(values, names, categorical)
        self.n_features_in_ = values.shape[1]
        if _is_frame(X):
            self.feature_names_in_ = np.asarray(names, dtype=object)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """X as float32 [n, len(get_feature_names_out())]."""
        check_is_fitted(self, "preprocessor_")
        if _is_frame(X) and hasattr(self, "feature_names_in_"):
            missing = [c for c in self.feature_names_in_ if c not in X.columns]
            if missing:
                raise DataError(f"X lacks the columns it was fitted with: {missing[:5]}")
            X = X[list(self.feature_names_in_)]
        values, _, _ = self._features(X)
        if values.shape[1] != self.n_features_in_:
            raise DataError(f"X has {values.shape[1]} columns; the preprocessing was fitted "
                            f"on {self.n_features_in_}")
        return self.preprocessor_.transform(values).reshape(len(values), -1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The output columns, e.g. ``age`` and ``island=Biscoe``."""
        check_is_fitted(self, "preprocessor_")
        return np.asarray(self.preprocessor_.output_columns, dtype=object)
