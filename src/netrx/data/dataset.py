"""The :class:`Dataset` every source becomes, its validation, and class-label encoding."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from netrx.errors import DataError, unknown_choice

Task = Literal["classification", "regression"]
TASKS: tuple[str, ...] = ("classification", "regression")

MAX_CATEGORIES = 20
"""A CSV string column with more distinct values than this is refused, not one-hot encoded."""

MAX_CLASSES = 50
"""A CSV integer target is a class label if it has at most this many distinct values (and
fewer than n/2); otherwise it is a regression target."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset as loaded, before any split or normalisation.

    ``X`` has shape [n, *input_shape]: float32 for numeric data, dtype object for CSV
    tables with string columns or missing values (NaN for a missing number, None for a
    missing string). ``y`` has shape [n]: int64 class indices into ``classes`` for
    classification, float32 for regression. ``columns`` names the features of the
    flattened X; ``categorical`` lists the indices of string-valued columns (CSV only).
    ``X_test`` / ``y_test`` hold the dataset's own test split, if it has one.

    ``input_shape``, ``columns`` and (for classification) ``classes`` are filled in from
    the arrays when left empty.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    task: Task
    classes: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    categorical: tuple[int, ...] = ()
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    input_shape: tuple[int, ...] = ()
    description: str = ""
    #: what loading did to the data that a user should hear of (rows dropped, ...)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.input_shape:
            object.__setattr__(self, "input_shape", tuple(self.X.shape[1:]))
        if not self.columns:
            n_features = math.prod(self.input_shape)
            object.__setattr__(self, "columns", tuple(f"x{i}" for i in range(n_features)))
        if self.task == "classification" and not self.classes and len(self.y):
            n = int(np.max(self.y)) + 1
            object.__setattr__(self, "classes", tuple(str(i) for i in range(n)))

    @property
    def n_classes(self) -> int:
        """Number of classes; 0 for regression."""
        return len(self.classes)

    @property
    def n_examples(self) -> int:
        """Number of examples in X (the dataset's own test split not counted)."""
        return len(self.y)


# --------------------------------------------------------------------------- validation


def validate(ds: Dataset) -> Dataset:
    """Raise :class:`DataError` if ``ds`` cannot be trained on; return it unchanged.

    NaN / inf in the features is refused, except the missing values (NaN / None) of a
    CSV table (dtype object), which the Preprocessor imputes or reports.
    """
    name = ds.name
    if len(ds.X) == 0 or len(ds.y) == 0:
        raise DataError(f"dataset {name!r} is empty")
    if ds.task not in TASKS:
        raise unknown_choice("task", str(ds.task), TASKS)
    _check_arrays(ds, ds.X, ds.y, f"dataset {name!r}")
    if (ds.X_test is None) != (ds.y_test is None):
        raise DataError(f"dataset {name!r}: X_test and y_test must be given together")
    if ds.X_test is not None and ds.y_test is not None:
        _check_arrays(ds, ds.X_test, ds.y_test, f"the test split of dataset {name!r}")
    if ds.task == "classification":
        present = np.unique(ds.y)
        if len(present) < 2:
            label = ds.classes[int(present[0])] if ds.classes else str(present[0])
            raise DataError(
                f"dataset {name!r} has only one class ({label!r}); "
                "classification needs at least two"
            )
    return ds


def _check_arrays(ds: Dataset, X: np.ndarray, y: np.ndarray, what: str) -> None:
    if len(X) != len(y):
        raise DataError(f"{what}: X has {len(X)} rows but y has {len(y)}; they must match")
    if y.ndim != 1:
        raise DataError(f"{what}: y must have shape [n], got {list(y.shape)}")
    if tuple(X.shape[1:]) != tuple(ds.input_shape):
        raise DataError(
            f"{what}: X has example shape {list(X.shape[1:])}, "
            f"expected input_shape {list(ds.input_shape)}"
        )
    if len(ds.columns) != math.prod(ds.input_shape):
        raise DataError(
            f"{what}: {len(ds.columns)} column names for {math.prod(ds.input_shape)} features"
        )
    _check_finite(X, ds.columns, ds.categorical, what)
    if ds.task == "classification":
        if y.dtype.kind not in "iu":
            raise DataError(f"{what}: class labels must be integer indices, got {y.dtype}")
        if len(y) and (y.min() < 0 or y.max() >= len(ds.classes)):
            raise DataError(f"{what}: class index outside 0..{len(ds.classes) - 1}")
    elif not np.isfinite(y).all():
        raise DataError(f"{what}: y has {int((~np.isfinite(y)).sum())} NaN or infinite values")


def _check_finite(
    X: np.ndarray, columns: Sequence[str], categorical: Sequence[int], what: str
) -> None:
    if X.dtype != object:
        n_nan = int(np.isnan(X).sum()) if X.dtype.kind == "f" else 0
        n_inf = int(np.isinf(X).sum()) if X.dtype.kind == "f" else 0
        if n_nan or n_inf:
            raise DataError(
                f"{what}: X has {n_nan} NaN and {n_inf} infinite values; "
                "fix or drop them (only CSV tables may have missing values, for --impute)"
            )
        return
    for j in set(range(X.shape[1])) - set(categorical):
        n_inf = int(np.isinf(X[:, j].astype(np.float64)).sum())
        if n_inf:
            raise DataError(f"{what}: column {columns[j]!r} has {n_inf} infinite values")


# --------------------------------------------------------------------------- labels


def _encode_labels(values: np.ndarray, task: str, what: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class indices and sorted class names for classification; float32 for regression."""
    if values.dtype.kind in "OUS":
        if task == "regression":
            raise DataError(f"{what} holds text, so it cannot be a regression target")
        values = np.array([_label_name(v) for v in values], dtype=object)
    if task == "regression":
        return values.astype(np.float32), ()
    labels, y = np.unique(values, return_inverse=True)
    return y.astype(np.int64).reshape(-1), tuple(_label_name(v) for v in labels)


def _label_name(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, (float, np.floating)):
        return format(float(value), "g")
    return str(value)


def _encode_with(values: np.ndarray, classes: tuple[str, ...], what: str) -> np.ndarray:
    """Indices of ``values`` into the ``classes`` fitted on the training labels."""
    index = {c: i for i, c in enumerate(classes)}
    names = [_label_name(v) for v in values]
    unseen = sorted(set(names) - set(index))
    if unseen:
        raise DataError(f"{what} has labels not in the training labels: {unseen[:10]}")
    return np.array([index[v] for v in names], dtype=np.int64)
