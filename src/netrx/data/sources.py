"""Where data comes from: :func:`load`, the one entry point, for a built-in name
(:mod:`netrx.data.builtins`) or a CSV table / NPZ archive (read here).

``_READERS`` is the single place where a file suffix is mapped to its reader; every
source becomes a :class:`~netrx.data.dataset.Dataset` (re-exported here). Nothing here
ever downloads anything.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from netrx.data.builtins import (  # noqa: F401  (re-exported)
    _ARRAY_KEYS,
    _BUILTINS,
    _IMAGE_SHAPES,
    _MNIST1D_FILE,
    _SKLEARN_DESCRIPTIONS,
    _generate_mnist1d,
    _load_mnist1d,
    _load_sklearn,
    _mnist1d_arrays,
    _read_cache,
    _write_npz_atomic,
    builtin_names,
    cache_dir,
    describe_builtins,
)
from netrx.data.dataset import (  # noqa: F401  (re-exported)
    MAX_CATEGORIES,
    MAX_CLASSES,
    TASKS,
    Dataset,
    _check_arrays,
    _check_finite,
    _encode_labels,
    _encode_with,
    _label_name,
    validate,
)
from netrx.errors import ConfigError, DataError, did_you_mean, unknown_choice


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


def _load_csv(path: Path, target: str | None, task: str | None,
              drop: Sequence[str] = (), features: Sequence[str] | None = None) -> Dataset:
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
        raise DataError(f"cannot read CSV file {path}: {e}") from e
    df.columns = [str(c) for c in df.columns]
    columns = list(df.columns)
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
    for flag, names in (("--drop", drop), ("--features", features or ())):
        unknown = [c for c in names if c not in columns]
        if unknown:
            raise DataError(f"{flag} names {unknown[0]!r}, which {path} does not have"
                            f"{did_you_mean(unknown[0], columns)}; columns: {', '.join(columns)}")
        if target in names and flag == "--drop":
            raise DataError(f"--drop {target}: that is the target column")
    notes: list[str] = []
    missing_target = df[target].isna().to_numpy()
    if missing_target.all():
        raise DataError(f"target column {target!r} of {path} has no values")
    if missing_target.any():
        df = df[~missing_target]
        notes.append(f"dropped {int(missing_target.sum())} of {len(missing_target)} rows whose "
                     f"target {target!r} is missing")
    y_raw = df[target].to_numpy()
    if task is None:
        task = _infer_csv_task(y_raw)
    y, classes = _encode_labels(y_raw, task, f"target column {target!r}")
    chosen = [c for c in (features if features is not None else columns)
              if c != target and c not in set(drop)]
    if not chosen:
        raise DataError(f"{path} has no feature columns besides the target {target!r}"
                        + (" after --drop / --features" if drop or features is not None else ""))
    X, categorical = features_from_frame(df[chosen], str(path))
    features = chosen
    return Dataset(
        name=path.stem,
        X=X,
        y=y,
        task=task,  # type: ignore[arg-type]
        classes=classes,
        columns=tuple(features),
        categorical=categorical,
        description=f"CSV file {path}, target {target!r}",
        notes=tuple(notes),
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
        _check_text_column(col, values[~missing], str(name), source)
        X[:, j] = values
        categorical.append(j)
    if not categorical and not any_missing:
        X = X.astype(np.float32)
    return X, tuple(categorical)


def _check_text_column(col: Any, present: np.ndarray, name: str, source: str) -> None:
    """Refuse the text columns one-hot encoding cannot serve: an ID (nearly one level per
    row), dates, or numbers spoilt by a few strings. Other columns with many levels are
    encoded: the frequent levels one-hot plus one "infrequent" column
    (:class:`~netrx.data.Preprocessor`)."""
    import pandas as pd

    n_distinct = len(set(present))
    if n_distinct <= MAX_CATEGORIES:
        return
    numeric = pd.to_numeric(col, errors="coerce")
    if numeric.notna().mean() > 0.5:
        odd = col[numeric.isna() & ~col.isna()].astype(str).unique()[:3]
        raise DataError(
            f"column {name!r} of {source} has {n_distinct} distinct text values, but most "
            f"are numbers: non-numbers such as {list(odd)} make it text; fix them, or drop "
            f"the column with --drop {name}")
    sample = pd.Series(present[:200])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dates = pd.to_datetime(sample, errors="coerce", format="mixed").notna().mean()
    if dates > 0.8:
        raise DataError(
            f"column {name!r} of {source} looks like dates ({n_distinct} distinct values); "
            f"netrx does not encode dates: drop it with --drop {name}, or turn it into "
            "numbers (e.g. year, day of year) in the file")
    if n_distinct >= 0.9 * len(present):
        raise DataError(
            f"column {name!r} of {source} has {n_distinct} distinct text values in "
            f"{len(present)} rows: it names the rows (an ID or free text), so it cannot "
            f"generalise; drop it with --drop {name}")


_READERS: dict[str, Callable[..., Dataset]] = {
    ".csv": _load_csv,
    ".npz": _load_npz,
}


def load(
    source: str | os.PathLike[str], *, target: str | None = None, task: str | None = None,
    drop: Sequence[str] = (), features: Sequence[str] | None = None,
) -> Dataset:
    """Load a built-in dataset by name, or a ``.csv`` / ``.npz`` file by path.

    ``target`` names the label column of a CSV table; ``task`` ("classification" or
    "regression") overrides the task inferred from the labels. A built-in name wins over
    a file of the same name (write ``./name`` for the file). ``drop`` leaves out columns of
    a CSV table, ``features`` keeps only those; rows whose target is missing are dropped
    and counted in the dataset's ``notes``.
    """
    if task is not None and task not in TASKS:
        raise unknown_choice("task", task, TASKS)
    name = os.fspath(source)
    if name in _BUILTINS:
        if target is not None or drop or features is not None:
            what = "target=" if target is not None else "--drop and --features"
            raise ConfigError(f"{what} applies to CSV files only, not to the built-in {name!r}")
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
    if suffix != ".csv" and (drop or features is not None):
        raise ConfigError("--drop and --features choose columns of a CSV table, not of "
                          f"{path.name}")
    if suffix == ".csv":
        return validate(_load_csv(path, target, task, drop, features))
    return validate(_READERS[suffix](path, target, task))
