"""The strong default of ``netrx improve``'s baseline (``netrx.recipe.defaults``) against
its variants and scikit-learn's MLP defaults, on the tables of ``bench/tabular.py``.

Each method is scored by 5-fold cross-validation (``KFold`` / ``StratifiedKFold``,
shuffled with seed 0, the same folds for every method) on the **training rows** of each
table (``<out>/data/<table>/train.csv``, written by ``bench/peers/tables.py`` in the peers'
environment, as ``bench/tabular.py`` does); the test rows are scored too, by a fit on all
the training rows, but the choice of a default rests on the folds. Every method sees the
same preprocessing: netrx's ``TablePreprocessor`` (missing numbers ← median, text
one-hot, standardized). netrx's members are an ensemble of ``--members`` networks (seeds
0 … K − 1, the mean of their outputs).

Methods:

- ``default``: the strong default of the table's task, as ``netrx improve`` trains it;
- ``former``: the regression default before 3a4db4e (3 × 256, α = 2·10⁻³, no dropout;
  on a classification table, the default without dropout);
- ``default+2x256+nodrop``, ``default+nodrop``, ``default+1x256``, ``default+lr1e-3``:
  the default with the named changes;
- ``sklearn``: ``MLPClassifier`` / ``MLPRegressor`` defaults after a ``StandardScaler``
  (the regressor's target standardized too, as the peers of ``bench/tabular.py``).

    python bench/defaults.py                                   # every table, ≈ 25 min
    python bench/defaults.py --tables cars,diabetes --methods default,former,sklearn

Prints ``uptime`` at start and end and one table: mean score over the folds (accuracy or
R²) ± its standard deviation, the test score, and seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from peers.run_peer import load  # the peers' reading of a table (bench/peers/)
from tabular import PEER_PYTHON, PEERS, ROOT, TABLES, ensure_peer_env, uptime

#: a variant: the config keys it changes in the strong default
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "former": {"model.hidden": [256, 256, 256], "model.dropout": 0.0, "optimizer.lr": 2e-3},
    "default+2x256+nodrop": {"model.hidden": [256, 256], "model.dropout": 0.0},
    "default+nodrop": {"model.dropout": 0.0},
    "default+1x256": {"model.hidden": [256]},
    "default+lr1e-3": {"optimizer.lr": 1e-3},
}
METHODS = (*VARIANTS, "sklearn")


def netrx_estimator(task: str, n_train: int, changes: dict[str, Any], members: int) -> Any:
    """The strong default of ``task`` with ``changes``, as a scikit-learn estimator."""
    from netrx.config import merge, parse_config
    from netrx.estimators import NetClassifier, NetRegressor
    from netrx.recipe.defaults import strong_default

    cfg = strong_default(parse_config({"name": "bench"}), family="mlp", task=task,
                         n_train=n_train, kind="table")
    cfg = parse_config(merge(cfg.model_dump(mode="json"), changes))
    o, m, t = cfg.optimizer, cfg.model, cfg.train
    kwargs = dict(hidden=tuple(m.hidden), dropout=m.dropout, optimizer=o.name, lr=o.lr,
                  optimizer_options={"b2": o.b2}, weight_decay=o.weight_decay,
                  schedule="cosine", epochs=t.epochs, batch_size=t.batch_size,
                  members=members, random_state=0, device="cpu")
    if task == "classification":
        return NetClassifier(label_smoothing=cfg.regularization.label_smoothing, **kwargs)
    return NetRegressor(**kwargs)


def sklearn_estimator(task: str) -> Any:
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if task == "classification":
        return make_pipeline(StandardScaler(), MLPClassifier(random_state=0))
    return TransformedTargetRegressor(make_pipeline(StandardScaler(),
                                                    MLPRegressor(random_state=0)),
                                      transformer=StandardScaler())


def score(task: str, y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score, r2_score

    return float(accuracy_score(y, p) if task == "classification" else r2_score(y, p))


def measure(data: Path, table: str, method: str, members: int) -> tuple[float, float, float,
                                                                        float]:
    """(mean fold score, its sd over folds, test score, seconds)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    from netrx.data.transformer import TablePreprocessor

    d = load(data, table)
    task, y, y_test = d.task, d.y_train, d.y_test
    pre = TablePreprocessor(impute="median").fit(d.X_train)
    X, X_test = (pre.transform(f).astype(np.float64) for f in (d.X_train, d.X_test))

    def make(n: int) -> Any:
        if method == "sklearn":
            return sklearn_estimator(task)
        return netrx_estimator(task, n, VARIANTS[method], members)

    splitter = (StratifiedKFold if task == "classification" else KFold)(
        5, shuffle=True, random_state=0)
    t0 = time.monotonic()
    folds = [score(task, y[j], make(len(i)).fit(X[i], y[i]).predict(X[j]))
             for i, j in splitter.split(X, y)]
    test_score = score(task, y_test, make(len(X)).fit(X, y).predict(X_test))
    return float(np.mean(folds)), float(np.std(folds)), test_score, time.monotonic() - t0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", default=",".join(TABLES))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--members", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "defaults")
    args = ap.parse_args(argv)
    tables = [t for t in args.tables.split(",") if t]
    methods = [m for m in args.methods.split(",") if m]
    bad = sorted(set(tables) - set(TABLES)) + sorted(set(methods) - set(METHODS))
    if bad:
        ap.error(f"unknown {bad}; tables: {', '.join(TABLES)}; methods: {', '.join(METHODS)}")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")  # scikit-learn's ConvergenceWarning at 200 epochs
    print(f"load at start: {uptime()}", flush=True)
    ensure_peer_env()
    data = args.out / "data"
    subprocess.run([str(PEER_PYTHON), str(PEERS / "tables.py"), str(data),
                    "--tables", ",".join(tables)], check=True)
    lines = ["| table | method | 5-fold CV | test | seconds |", "|---|---|---|---|---|"]
    for table in tables:
        for method in methods:
            cv, sd, test, seconds = measure(data, table, method, args.members)
            lines.append(f"| {table} | {method} | {cv:.4f} ± {sd:.4f} | {test:.4f} | "
                         f"{seconds:.0f} |")
            print(lines[-1], flush=True)
    print(f"load at end: {uptime()}\n")
    print("\n".join(lines))
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
