"""Where data comes from: built-in datasets, CSV tables and NPZ archives.

Every source becomes a :class:`Dataset`. :func:`load` is the one entry point; ``_BUILTINS``
is the single place where a name is mapped to its loader, and ``_READERS`` the single
place where a file suffix is mapped to its reader. Nothing here ever downloads anything.
"""

from __future__ import annotations

import functools
import math
import os
import random
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from netrx.errors import ConfigError, DataError, did_you_mean, unknown_choice

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


# --------------------------------------------------------------------------- built-ins


def cache_dir() -> Path:
    """Where generated datasets are cached: ``$NETRX_CACHE``, else ``~/.cache/netrx``."""
    env = os.environ.get("NETRX_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "netrx"


_MNIST1D_FILE = "mnist1d-default-seed42-v1.npz"
_ARRAY_KEYS = ("X", "y", "X_test", "y_test")


def _load_mnist1d() -> Dataset:
    arrays = _mnist1d_arrays()
    return Dataset(
        name="mnist1d",
        X=arrays["X"].copy(),
        y=arrays["y"].copy(),
        task="classification",
        classes=tuple(str(i) for i in range(10)),
        X_test=arrays["X_test"].copy(),
        y_test=arrays["y_test"].copy(),
        description="MNIST-1D: 1-D signals of length 40 drawn from 10 digit templates "
        "(Greydanus 2020), default arguments, seed 42",
    )


@functools.lru_cache(maxsize=1)
def _mnist1d_arrays() -> dict[str, np.ndarray]:
    """MNIST-1D from the disk cache, else generated (never downloaded) and cached."""
    path = cache_dir() / _MNIST1D_FILE
    arrays = _read_cache(path)
    if arrays is None:
        arrays = _generate_mnist1d()
        try:
            _write_npz_atomic(path, arrays)
        except OSError:
            pass  # an unwritable cache only costs regeneration next time
    for array in arrays.values():
        array.setflags(write=False)
    return arrays


def _generate_mnist1d() -> dict[str, np.ndarray]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:
        raise DataError(
            "the built-in 'mnist1d' needs the mnist1d package: pip install mnist1d"
        ) from e
    # make_dataset seeds the global RNGs of NumPy and `random`; leave them as we found them.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        raw = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {
        "X": raw["x"].astype(np.float32),
        "y": raw["y"].astype(np.int64),
        "X_test": raw["x_test"].astype(np.float32),
        "y_test": raw["y_test"].astype(np.int64),
    }


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in _ARRAY_KEYS}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def _write_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary name in the same folder, then rename: never a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_SKLEARN_DESCRIPTIONS = {
    "digits": "8x8 images of handwritten digits (UCI, via scikit-learn), 10 classes",
    "wine": "chemical analysis of wines from 3 cultivars (UCI, via scikit-learn)",
    "breast_cancer": "Wisconsin diagnostic breast cancer, malignant / benign (via scikit-learn)",
    "iris": "Fisher's iris flowers, 4 measurements, 3 species (via scikit-learn)",
}
_IMAGE_SHAPES = {"digits": (1, 8, 8)}


def _load_sklearn(name: str) -> Dataset:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    X = bunch.data.astype(np.float32)
    if name in _IMAGE_SHAPES:
        X = X.reshape(len(X), *_IMAGE_SHAPES[name])
    return Dataset(
        name=name,
        X=X,
        y=bunch.target.astype(np.int64),
        task="classification",
        classes=tuple(str(c) for c in bunch.target_names),
        columns=tuple(str(c) for c in bunch.feature_names),
        description=_SKLEARN_DESCRIPTIONS[name],
    )


_BUILTINS: dict[str, Callable[[], Dataset]] = {
    "mnist1d": _load_mnist1d,
    "digits": functools.partial(_load_sklearn, "digits"),
    "wine": functools.partial(_load_sklearn, "wine"),
    "breast_cancer": functools.partial(_load_sklearn, "breast_cancer"),
    "iris": functools.partial(_load_sklearn, "iris"),
}


def builtin_names() -> list[str]:
    """Names of the built-in datasets, sorted."""
    return sorted(_BUILTINS)


def describe_builtins() -> list[dict[str, Any]]:
    """One row per built-in dataset, for ``netrx datasets``."""
    rows = []
    for name in builtin_names():
        ds = _BUILTINS[name]()
        rows.append(
            {
                "name": name,
                "n_examples": ds.n_examples,
                "n_test": 0 if ds.X_test is None else len(ds.X_test),
                "input_shape": ds.input_shape,
                "n_classes": ds.n_classes,
                "task": ds.task,
                "has_test_split": ds.X_test is not None,
                "description": ds.description,
            }
        )
    return rows


# --------------------------------------------------------------------------- files


def _load_npz(path: Path, target: str | None, task: str | None) -> Dataset:
    if target is not None:
        raise ConfigError(f"target= applies to CSV files only, not to {path.name}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise DataError(f"cannot read NPZ file {path}: {e}") from e
    missing = [k for k in ("X", "y") if k not in arrays]
    if missing:
        raise DataError(
            f"{path} lacks the array(s) {', '.join(missing)}; it must hold X and y "
            f"(optionally X_test, y_test); found: {', '.join(sorted(arrays)) or 'none'}"
        )
    X, y = _npz_features(arrays["X"], path, "X"), _npz_target(arrays["y"])
    if task is None:
        task = "regression" if y.dtype.kind in "fc" else "classification"
    y_enc, classes = _encode_labels(y, task, f"the array y of {path}")
    X_test = y_test = None
    if "X_test" in arrays or "y_test" in arrays:
        if "X_test" not in arrays or "y_test" not in arrays:
            raise DataError(f"{path}: X_test and y_test must be given together")
        X_test = _npz_features(arrays["X_test"], path, "X_test")
        raw = _npz_target(arrays["y_test"])
        what = f"the array y_test of {path}"
        if task == "classification":
            y_test = _encode_with(raw, classes, what)
        else:
            y_test = _encode_labels(raw, task, what)[0]
    return Dataset(
        name=path.stem,
        X=X,
        y=y_enc,
        task=task,  # type: ignore[arg-type]
        classes=classes,
        X_test=X_test,
        y_test=y_test,
        description=f"NPZ file {path}",
    )


def _npz_features(X: np.ndarray, path: Path, key: str) -> np.ndarray:
    if X.dtype.kind not in "biuf" or X.ndim < 2:
        raise DataError(
            f"{path}: {key} must be a numeric array of shape [n, ...], "
            f"got dtype {X.dtype} and shape {list(X.shape)}"
        )
    return X.astype(np.float32)


def _npz_target(y: np.ndarray) -> np.ndarray:
    return y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y


def _load_csv(path: Path, target: str | None, task: str | None) -> Dataset:
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
        raise DataError(f"cannot read CSV file {path}: {e}") from e
    columns = [str(c) for c in df.columns]
    if target is None or target not in columns:
        hint = (
            "" if target is None else f" has no column {target!r}{did_you_mean(target, columns)};"
        )
        raise DataError(
            f"{path}{hint} name the target column with target= (--target); "
            f"columns: {', '.join(columns)}"
        )
    if len(df) == 0:
        raise DataError(f"dataset {path.stem!r} is empty: {path} has no rows")
    n_missing = int(df[target].isna().sum())
    if n_missing:
        raise DataError(
            f"target column {target!r} of {path} has {n_missing} missing values; "
            "drop those rows or fill them in"
        )
    y_raw = df[target].to_numpy()
    if task is None:
        task = _infer_csv_task(y_raw)
    y, classes = _encode_labels(y_raw, task, f"target column {target!r}")
    features = [c for c in columns if c != target]
    if not features:
        raise DataError(f"{path} has no feature columns besides the target {target!r}")
    X, categorical = features_from_frame(df[features], str(path))
    return Dataset(
        name=path.stem,
        X=X,
        y=y,
        task=task,  # type: ignore[arg-type]
        classes=classes,
        columns=tuple(features),
        categorical=categorical,
        description=f"CSV file {path}, target {target!r}",
    )


def _infer_csv_task(y: np.ndarray) -> str:
    """Text or bool → classification; integers with ≤ MAX_CLASSES distinct values, and
    fewer than n/2, → classification; anything else → regression."""
    if y.dtype.kind in "OUSb":
        return "classification"
    if y.dtype.kind in "iu":
        k = len(np.unique(y))
        return "classification" if k <= MAX_CLASSES and k < len(y) / 2 else "regression"
    return "regression"


def features_from_frame(
    frame: Any, source: str = "the table"
) -> tuple[np.ndarray, tuple[int, ...]]:
    """The feature matrix of a pandas DataFrame and the indices of its string columns.

    Numeric and bool columns become floats (NaN where missing); other columns are
    categorical and hold ``str`` values (None where missing). The result is float32 if
    there is no categorical column and nothing is missing, else dtype object.
    Used by :func:`load` and, on new data, by ``netrx predict``.
    """
    import pandas as pd

    n, d = frame.shape
    X = np.empty((n, d), dtype=object)
    categorical: list[int] = []
    any_missing = False
    for j, name in enumerate(frame.columns):
        col = frame[name]
        missing = col.isna().to_numpy()
        any_missing = any_missing or bool(missing.any())
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            X[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        text = [None if m else str(v) for v, m in zip(col, missing, strict=True)]
        values = np.array(text, dtype=object)
        n_distinct = len(set(values[~missing]))
        if n_distinct > MAX_CATEGORIES:
            numeric = pd.to_numeric(col, errors="coerce")
            odd = col[numeric.isna() & ~col.isna()].astype(str).unique()[:3]
            hint = (
                f" (most values are numbers; non-numbers such as {list(odd)} make it text)"
                if numeric.notna().mean() > 0.5
                else ""
            )
            raise DataError(
                f"column {name!r} of {source} has {n_distinct} distinct text values, more "
                f"than the {MAX_CATEGORIES} that netrx one-hot encodes{hint}; "
                "drop the column or encode it as numbers"
            )
        X[:, j] = values
        categorical.append(j)
    if not categorical and not any_missing:
        X = X.astype(np.float32)
    return X, tuple(categorical)


_READERS: dict[str, Callable[[Path, str | None, str | None], Dataset]] = {
    ".csv": _load_csv,
    ".npz": _load_npz,
}


def load(
    source: str | os.PathLike[str], *, target: str | None = None, task: str | None = None
) -> Dataset:
    """Load a built-in dataset by name, or a ``.csv`` / ``.npz`` file by path.

    ``target`` names the label column of a CSV table; ``task`` ("classification" or
    "regression") overrides the task inferred from the labels. A built-in name wins over
    a file of the same name (write ``./name`` for the file).
    """
    if task is not None and task not in TASKS:
        raise unknown_choice("task", task, TASKS)
    name = os.fspath(source)
    if name in _BUILTINS:
        if target is not None:
            raise ConfigError(f"target= applies to CSV files only, not to the built-in {name!r}")
        ds = _BUILTINS[name]()
        if task is not None and task != ds.task:
            raise ConfigError(f"the built-in {name!r} is a {ds.task} dataset, not {task}")
        return validate(ds)
    path = Path(name).expanduser()
    suffix = path.suffix.lower()
    if not path.is_file():
        if suffix in _READERS or os.sep in name or path.exists():
            raise DataError(f"no such file: {name}")
        raise DataError(
            f"unknown dataset {name!r}{did_you_mean(name.lower(), _BUILTINS)}; "
            f"built-ins: {', '.join(builtin_names())}; or give the path of a .csv or .npz file"
        )
    if suffix not in _READERS:
        raise DataError(f"cannot read {name}: unsupported file type {suffix!r}; use .csv or .npz")
    return validate(_READERS[suffix](path, target, task))
