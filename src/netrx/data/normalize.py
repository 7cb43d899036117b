"""Normalising inputs with statistics of the training set only.

:class:`Standardizer` is the formula of the notes, x := (x − μ)/σ. :class:`Preprocessor`
is the whole tabular pipeline (impute → one-hot → standardize) fitted on train and
applied unchanged to dev, test and new data; its state is plain JSON, so a run directory
can store it and ``netrx predict`` can apply it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from netrx.data.dataset import MAX_CATEGORIES
from netrx.errors import DataError, unknown_choice

IMPUTE_STRATEGIES: tuple[str, ...] = ("mean", "median", "most_frequent")
#: the one-hot column of a text column's infrequent levels (beyond MAX_CATEGORIES − 1)
INFREQUENT = "<infrequent>"


class Standardizer:
    """x := (x − μ) / σ for each feature j of the flattened input, fitted on train only.

    μ_j = (1/m) Σ_i x_ij and σ_j = √((1/m) Σ_i (x_ij − μ_j)²) over the m training
    examples; dev, test and new data are transformed with the same μ and σ, so that they
    go through the network exactly as the training data did.

    Seed 000 of the course notes divides by σ² — a slip: x/σ² has variance 1/σ², not 1.
    The correct formula, used here, divides by σ, the standard deviation.
    A constant feature (σ = 0) is centred but left unscaled (σ treated as 1).
    """

    mean_: np.ndarray
    scale_: np.ndarray
    input_shape_: tuple[int, ...]  # of one example, as given to fit

    def fit(self, X: np.ndarray) -> Standardizer:
        """Compute ``mean_`` (μ) and ``scale_`` (σ, 1 where σ = 0) over axis 0."""
        flat = _flat_numeric(X, "Standardizer.fit")
        if len(flat) == 0:
            raise DataError("cannot fit a Standardizer on zero examples")
        if not np.isfinite(flat).all():
            raise DataError(
                f"cannot standardize: X has {int((~np.isfinite(flat)).sum())} NaN or "
                "infinite values"
            )
        self.mean_ = flat.mean(axis=0)
        self.input_shape_ = tuple(int(s) for s in np.shape(X)[1:])
        constant = np.ptp(flat, axis=0) == 0
        self.scale_ = np.where(constant, 1.0, flat.std(axis=0))
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(X − μ) / σ as float32, in the shape of X ([n, *input_shape])."""
        if not hasattr(self, "mean_"):
            raise DataError("this Standardizer is not fitted; call fit(X_train) first")
        flat = _flat_numeric(X, "Standardizer.transform")
        if flat.shape[1] != len(self.mean_):
            raise DataError(
                f"X has {flat.shape[1]} features per example; the Standardizer was fitted "
                f"on {len(self.mean_)}"
            )
        return ((flat - self.mean_) / self.scale_).astype(np.float32).reshape(np.shape(X))

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """x = μ + σ·z, the inverse of :meth:`transform` (float64, in the shape of Z): a
        regression network's standardized outputs back in the target's units."""
        if not hasattr(self, "mean_"):
            raise DataError("this Standardizer is not fitted; call fit(X_train) first")
        flat = np.asarray(Z, dtype=np.float64).reshape(len(Z), -1)
        if flat.shape[1] != len(self.mean_):
            raise DataError(f"Z has {flat.shape[1]} values per example; the Standardizer was "
                            f"fitted on {len(self.mean_)}")
        return (flat * self.scale_ + self.mean_).reshape(np.shape(Z))

    def state_dict(self) -> dict[str, Any]:
        """μ and σ as plain lists (JSON-serialisable)."""
        return {"mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                "input_shape": list(self.input_shape_)}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Standardizer:
        std = cls()
        try:
            std.mean_ = np.asarray(state["mean"], dtype=np.float64)
            std.scale_ = np.asarray(state["scale"], dtype=np.float64)
            std.input_shape_ = tuple(int(s) for s in state.get("input_shape", [len(std.mean_)]))
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"invalid Standardizer state: {e!r}") from e
        return std


def _flat_numeric(X: np.ndarray, what: str) -> np.ndarray:
    X = np.asarray(X)
    try:
        return X.reshape(len(X), math.prod(X.shape[1:])).astype(np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what}: X is not numeric ({e}); use a Preprocessor for tables") from e


def _levels(values: np.ndarray) -> list[str]:
    """The one-hot levels of a text column: every training level when there are at most
    MAX_CATEGORIES; otherwise the MAX_CATEGORIES − 1 most frequent (ties: alphabetical)
    and :data:`INFREQUENT`, the column of every other level (and of levels never seen in
    training), as scikit-learn's ``OneHotEncoder(max_categories=...)`` groups them."""
    levels, counts = np.unique(np.asarray([str(v) for v in values], dtype=object),
                               return_counts=True)
    if len(levels) <= MAX_CATEGORIES:
        return [str(v) for v in levels]
    order = sorted(range(len(levels)), key=lambda i: (-counts[i], levels[i]))
    return sorted(str(levels[i]) for i in order[:MAX_CATEGORIES - 1]) + [INFREQUENT]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class Preprocessor:
    """Impute → one-hot → standardize, every statistic fitted on the training set.

    1. Imputation (``impute``): a missing value (NaN, or None in a text column) becomes
       the training column's mean, median or most frequent value (ties: the smallest).
       Text columns always use the most frequent value, since a mean of text is
       undefined. With ``impute=None`` any missing value is a :class:`DataError`.
    2. One-hot encoding of the categorical columns: column c with training categories
       k_1 < ... < k_K becomes K columns ``c=k_i``, 1 where the value is k_i. A column
       with more than MAX_CATEGORIES levels keeps its MAX_CATEGORIES − 1 most frequent
       and one ``c=<infrequent>`` column for the rest. A category not seen in training
       goes to that column, or (without one) becomes an all-zero row in that column's
       block (before standardization), so new data never fails on a new category.
    3. A :class:`Standardizer` on the result.

    Numeric data with no categorical column keeps its shape (e.g. [n, 1, 8, 8]); with
    one-hot columns the output is [n, len(output_columns)].
    """

    columns_: tuple[str, ...]
    categorical_: tuple[int, ...]
    fill_: list[Any]
    categories_: list[list[str]]
    standardizer_: Standardizer
    input_shape_: tuple[int, ...]

    def __init__(self, impute: str | None = None) -> None:
        if impute is not None and impute not in IMPUTE_STRATEGIES:
            raise unknown_choice("impute strategy", impute, IMPUTE_STRATEGIES)
        self.impute = impute

    # ------------------------------------------------------------------ fitting

    def fit(
        self,
        X: np.ndarray,
        columns: Sequence[str] | None = None,
        categorical: Sequence[int] = (),
    ) -> Preprocessor:
        """Learn fill values, categories, μ and σ from the training features X."""
        X = np.asarray(X)
        if len(X) == 0:
            raise DataError("cannot fit a Preprocessor on zero examples")
        d = math.prod(X.shape[1:])
        self.columns_ = tuple(columns) if columns else tuple(f"x{j}" for j in range(d))
        if len(self.columns_) != d:
            raise DataError(f"{len(self.columns_)} column names for {d} features")
        self.categorical_ = tuple(sorted({int(j) for j in categorical}))
        if any(not 0 <= j < d for j in self.categorical_):
            raise DataError(f"categorical column indices {self.categorical_} outside 0..{d - 1}")
        self._in_shape = tuple(X.shape[1:])
        numeric, text = self._columns(X)
        self._check_missing(numeric, text)
        self.fill_ = self._fit_fill(numeric, text) if self.impute else [None] * d
        numeric, text = self._fill(numeric, text)
        self.categories_ = [_levels(text[:, k]) for k in range(text.shape[1])]
        self._layout()
        self.standardizer_ = Standardizer().fit(self._encode(numeric, text))
        return self

    def _fit_fill(self, numeric: np.ndarray, text: np.ndarray) -> list[Any]:
        fill: list[Any] = [None] * len(self.columns_)
        for k, j in enumerate(self._numeric_idx):
            seen = numeric[:, k][~np.isnan(numeric[:, k])]
            self._require_values(seen, j)
            if self.impute == "mean":
                fill[j] = float(seen.mean())
            elif self.impute == "median":
                fill[j] = float(np.median(seen))
            else:
                fill[j] = float(_most_frequent(seen))
        for k, j in enumerate(self.categorical_):
            seen = np.array([v for v in text[:, k] if not _is_missing(v)], dtype=object)
            self._require_values(seen, j)
            fill[j] = str(_most_frequent(seen))
        return fill

    def _require_values(self, seen: np.ndarray, j: int) -> None:
        if len(seen) == 0:
            raise DataError(
                f"column {self.columns_[j]!r} has no values in the training set to impute "
                "from; drop the column"
            )

    def _layout(self) -> None:
        """Output positions of the numeric columns and of each one-hot block."""
        names: list[str] = []
        self._numeric_out: list[int] = []
        self._blocks: list[int] = []
        cat_k = {j: k for k, j in enumerate(self.categorical_)}
        for j, name in enumerate(self.columns_):
            if j in cat_k:
                self._blocks.append(len(names))
                names.extend(f"{name}={c}" for c in self.categories_[cat_k[j]])
            else:
                self._numeric_out.append(len(names))
                names.append(name)
        self.output_columns_ = tuple(names)
        self.input_shape_ = (len(names),) if self.categorical_ else self._in_shape

    @property
    def output_columns(self) -> tuple[str, ...]:
        """Names of the output features, e.g. ``age`` and ``color=red``."""
        return self.output_columns_

    @property
    def _numeric_idx(self) -> list[int]:
        cat = set(self.categorical_)
        return [j for j in range(len(self.columns_)) if j not in cat]

    # ------------------------------------------------------------------ applying

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Impute, one-hot and standardize X with the training statistics → float32."""
        if not hasattr(self, "standardizer_"):
            raise DataError("this Preprocessor is not fitted; call fit(X_train, ...) first")
        X = np.asarray(X)
        if math.prod(X.shape[1:]) != len(self.columns_):
            raise DataError(
                f"X has {math.prod(X.shape[1:])} features per example; the Preprocessor "
                f"was fitted on {len(self.columns_)}: {', '.join(self.columns_[:10])}"
            )
        numeric, text = self._columns(X)
        self._check_missing(numeric, text)
        numeric, text = self._fill(numeric, text)
        out = self.standardizer_.transform(self._encode(numeric, text))
        return out.reshape(len(X), *self.input_shape_)

    def fit_transform(
        self,
        X: np.ndarray,
        columns: Sequence[str] | None = None,
        categorical: Sequence[int] = (),
    ) -> np.ndarray:
        return self.fit(X, columns, categorical).transform(X)

    def surprises(self, X: np.ndarray, z_limit: float = 6.0) -> list[str]:
        """What new data holds that training did not, in words, one note per column:
        text values outside the levels the column was encoded with (they go to its
        ``<infrequent>`` column, or to an all-zero block), and, for a table's numeric
        columns, values more than ``z_limit`` training standard deviations from the
        training mean, |x − μ|/σ > z_limit (the network extrapolates there)."""
        X = np.asarray(X)
        numeric, text = self._columns(X)
        notes = []
        for k, j in enumerate(self.categorical_):
            known = set(self.categories_[k])
            odd = [str(v) for v in text[:, k] if not _is_missing(v) and str(v) not in known]
            if odd:
                where = "its <infrequent> column" if INFREQUENT in known else "an all-zero block"
                examples = ", ".join(repr(v) for v in dict.fromkeys(odd).keys() if v)[:80]
                notes.append(f"column {self.columns_[j]!r}: {len(odd)} of {len(X)} values "
                             f"were not among its training levels (e.g. {examples}); they go "
                             f"to {where}")
        if len(self._in_shape) == 1 and len(self._numeric_idx):
            out = self._numeric_out if self.categorical_ else list(range(len(self._numeric_idx)))
            mean = np.asarray(self.standardizer_.mean_).reshape(-1)[out]
            std = np.asarray(self.standardizer_.scale_).reshape(-1)[out]
            with np.errstate(invalid="ignore"):
                z = np.abs(numeric - mean) / np.where(std > 0, std, 1.0)
            far = np.nansum(z > z_limit, axis=0)
            for k in np.flatnonzero(far):
                notes.append(f"column {self.columns_[self._numeric_idx[k]]!r}: {int(far[k])} of "
                             f"{len(X)} values lie more than {z_limit:g} training standard "
                             "deviations from its training mean")
        return notes

    def _columns(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Numeric columns as float64 [n, k] (NaN = missing); text columns as object."""
        flat = X.reshape(len(X), math.prod(X.shape[1:]))
        num_idx = self._numeric_idx
        try:
            numeric = flat[:, num_idx].astype(np.float64)
        except (TypeError, ValueError):
            for j in num_idx:
                try:
                    flat[:, j].astype(np.float64)
                except (TypeError, ValueError) as e:
                    raise DataError(
                        f"column {self.columns_[j]!r} should be numeric but holds text ({e})"
                    ) from e
            raise
        n_inf = np.isinf(numeric).sum(axis=0)
        for k in np.flatnonzero(n_inf):
            raise DataError(f"column {self.columns_[num_idx[k]]!r} has {n_inf[k]} infinite values")
        text = flat[:, list(self.categorical_)].astype(object)
        return numeric, text

    def _check_missing(self, numeric: np.ndarray, text: np.ndarray) -> None:
        if self.impute is not None:
            return
        names = [self.columns_[j] for j in self._numeric_idx]
        counts = dict(zip(names, np.isnan(numeric).sum(axis=0), strict=True))
        for k, j in enumerate(self.categorical_):
            counts[self.columns_[j]] = sum(_is_missing(v) for v in text[:, k])
        bad = {name: int(c) for name, c in counts.items() if c}
        if bad:
            listing = ", ".join(f"{name}: {c}" for name, c in bad.items())
            raise DataError(
                f"missing values ({sum(bad.values())} in {len(bad)} columns: {listing}); "
                "fill them with --impute mean|median|most_frequent, or drop those rows"
            )

    def _fill(self, numeric: np.ndarray, text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.impute is None:
            return numeric, text
        num_fill = np.array([self.fill_[j] for j in self._numeric_idx], dtype=np.float64)
        numeric = np.where(np.isnan(numeric), num_fill, numeric)
        text = text.copy()
        for k, j in enumerate(self.categorical_):
            for i, v in enumerate(text[:, k]):
                if _is_missing(v):
                    text[i, k] = self.fill_[j]
        return numeric, text

    def _encode(self, numeric: np.ndarray, text: np.ndarray) -> np.ndarray:
        """The numeric columns and one one-hot block per categorical column, as float64."""
        if not self.categorical_:
            return numeric
        Z = np.zeros((len(numeric), len(self.output_columns_)))
        Z[:, self._numeric_out] = numeric
        for k, start in enumerate(self._blocks):
            index = {c: i for i, c in enumerate(self.categories_[k])}
            other = index.get(INFREQUENT, -1)  # rare and unseen levels, if the column has it
            hot = np.array([index.get(str(v), other) for v in text[:, k]], dtype=np.int64)
            rows = np.flatnonzero(hot >= 0)  # otherwise unseen categories stay all zero
            Z[rows, start + hot[rows]] = 1.0
        return Z

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        """Everything learned, as plain JSON types."""
        return {
            "impute": self.impute,
            "columns": list(self.columns_),
            "categorical": list(self.categorical_),
            "input_shape": list(self._in_shape),
            "fill": list(self.fill_),
            "categories": [list(c) for c in self.categories_],
            "standardizer": self.standardizer_.state_dict(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Preprocessor:
        try:
            pre = cls(impute=state["impute"])
            pre.columns_ = tuple(state["columns"])
            pre.categorical_ = tuple(int(j) for j in state["categorical"])
            pre._in_shape = tuple(int(s) for s in state["input_shape"])
            pre.fill_ = list(state["fill"])
            pre.categories_ = [list(c) for c in state["categories"]]
            pre.standardizer_ = Standardizer.from_state_dict(state["standardizer"])
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"invalid Preprocessor state: {e!r}") from e
        pre._layout()
        return pre


def _most_frequent(values: np.ndarray) -> Any:
    """The most frequent value; the smallest of those tied."""
    uniq, counts = np.unique(values, return_counts=True)
    return uniq[int(np.argmax(counts))]
