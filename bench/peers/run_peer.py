"""One peer of ``bench/tabular.py`` on one table: fit on train.csv, score on test.csv once.

Run with the peers' environment (``bench/peers/.venv``: scikit-learn, pytabkit, CPU torch):

    bench/peers/.venv/bin/python bench/peers/run_peer.py METHOD TABLE --data DIR \\
        [--budget SECONDS] [--threads N] [--seed 0] [--quick]

prints one JSON line: method, table, score (accuracy, or R² for regression), seconds (the
fit, search included; not the imports, not the prediction) and what was fitted.

Methods (every one sees the columns of ``DIR/<table>/table.json`` minus the target and ``drop``):

- ``sklearn-mlp``    MLPClassifier / MLPRegressor defaults in a scaling pipeline: median
                     imputation and standardisation of the numbers, most-frequent imputation
                     and one-hot encoding of the text columns (regression: the target
                     standardised too, ``TransformedTargetRegressor``);
- ``sklearn-search`` RandomizedSearchCV over that pipeline's MLP (width / depth, α (L2),
                     learning rate, batch size, early stopping; 5-fold CV, scikit-learn's
                     default), in rounds of one configuration per thread while the budget
                     lasts (no round starts that would not end, with the refit, inside it;
                     the first always runs); the best is refitted on all of train;
- ``hgb``            HistGradientBoostingClassifier / Regressor defaults (text columns as
                     pandas categories, which it treats as categorical; missing values native);
- ``realmlp``        pytabkit's RealMLP_TD_Classifier / Regressor defaults on CPU (text columns
                     as categories; missing numbers filled with train medians, since RealMLP
                     refuses NaN).

Only ``sklearn-search`` uses the budget; the others train to their defaults' end.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SPACE = {"hidden_layer_sizes": [(100,), (256,), (512,), (100, 100), (256, 256), (512, 512),
                                (256, 256, 256)],
         "alpha": ("log", 1e-6, 1e1), "learning_rate_init": ("log", 1e-4, 1e-1),
         "batch_size": [32, 64, 128, 256], "early_stopping": [False, True]}


@dataclass(frozen=True)
class Opts:
    budget: float  # seconds
    threads: int
    seed: int
    quick: bool  # RealMLP-TD trains QUICK_EPOCHS epochs instead of its default 256


QUICK_EPOCHS = 16


@dataclass
class Data:
    task: str
    X_train: pd.DataFrame
    y_train: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray
    numeric: list[str]
    text: list[str]

    @property
    def classification(self) -> bool:
        return self.task == "classification"


def load(data_dir: Path, table: str) -> Data:
    info = json.loads((data_dir / table / "table.json").read_text())
    frames = [pd.read_csv(data_dir / table / f"{part}.csv") for part in ("train", "test")]
    ys = [f.pop(info["target"]).to_numpy() for f in frames]
    frames = [f.drop(columns=list(info["drop"])) for f in frames]
    numeric = [c for c in frames[0] if pd.api.types.is_numeric_dtype(frames[0][c])]
    text = [c for c in frames[0] if c not in numeric]
    for f in frames:  # text as object arrays with NaN where missing (what the encoders take)
        for c in text:
            f[c] = f[c].astype(object).where(f[c].notna(), np.nan)
    if info["task"] == "classification":
        ys = [y.astype(str) for y in ys]
    return Data(info["task"], frames[0], ys[0], frames[1], ys[1], numeric, text)


def as_categories(data: Data) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Text columns as pandas categories with train's levels (unseen levels become NaN)."""
    train, test = data.X_train.copy(), data.X_test.copy()
    for c in data.text:
        levels = sorted(train[c].dropna().unique())
        train[c] = pd.Categorical(train[c], categories=levels)
        test[c] = pd.Categorical(test[c], categories=levels)
    return train, test


# -- the scikit-learn MLPs ---------------------------------------------------------------
def mlp_pipeline(data: Data, seed: int, **mlp: Any):
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = ColumnTransformer([
        ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
         data.numeric),
        ("text", make_pipeline(SimpleImputer(strategy="most_frequent"),
                               OneHotEncoder(handle_unknown="ignore")), data.text)])
    net = (MLPClassifier if data.classification else MLPRegressor)(random_state=seed, **mlp)
    pipe = Pipeline([("columns", columns), ("mlp", net)])
    if data.classification:
        return pipe
    return TransformedTargetRegressor(regressor=pipe, transformer=StandardScaler())


def mlp_prefix(data: Data) -> str:
    return "mlp__" if data.classification else "regressor__mlp__"


def fit_sklearn_mlp(data: Data, o: Opts):
    model = mlp_pipeline(data, o.seed).fit(data.X_train, data.y_train)
    return model, "defaults: [100], adam α=0.001, L2 1e-4, 200 epochs"


def search_space(prefix: str) -> dict[str, Any]:
    from scipy.stats import loguniform

    return {prefix + k: loguniform(v[1], v[2]) if isinstance(v, tuple) else v
            for k, v in SPACE.items()}


def fit_sklearn_search(data: Data, o: Opts):
    """Rounds of RandomizedSearchCV while the budget lasts; then the best, refitted."""
    from sklearn.model_selection import RandomizedSearchCV

    model, space = mlp_pipeline(data, o.seed), search_space(mlp_prefix(data))
    t0 = time.perf_counter()
    tried: list[tuple[float, dict, float]] = []  # (mean CV score, params, mean fit seconds)
    rounds = 0
    while not rounds or _round_fits(time.perf_counter() - t0, rounds, tried, o.budget):
        search = RandomizedSearchCV(model, space, n_iter=o.threads, n_jobs=o.threads,
                                    refit=False, random_state=o.seed + rounds,
                                    error_score=np.nan)
        search.fit(data.X_train, data.y_train)
        res = search.cv_results_
        tried += [(float(s), p, float(t)) for s, p, t in
                  zip(res["mean_test_score"], res["params"], res["mean_fit_time"])]
        rounds += 1
    score, params, _ = max(tried, key=lambda r: -np.inf if np.isnan(r[0]) else r[0])
    model.set_params(**params).fit(data.X_train, data.y_train)
    shown = ", ".join(f"{k.rsplit('__', 1)[1]} {_fmt(v)}" for k, v in params.items())
    return model, f"best of {len(tried)} in {rounds} round(s) (CV {score:.4f}): {shown}"


def _round_fits(elapsed: float, rounds: int, tried: list, budget: float) -> bool:
    """Whether another round and the refit of the best so far end inside the budget."""
    best = max(tried, key=lambda r: -np.inf if np.isnan(r[0]) else r[0])
    return elapsed + elapsed / rounds + best[2] <= budget


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(list(v) if isinstance(v, tuple) else v)


# -- gradient boosting and RealMLP ---------------------------------------------------------
def fit_hgb(data: Data, o: Opts):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if data.classification else HistGradientBoostingRegressor
    train, _ = as_categories(data)
    return cls(random_state=o.seed).fit(train, data.y_train), "defaults"


def fit_realmlp(data: Data, o: Opts):
    from pytabkit import RealMLP_TD_Classifier, RealMLP_TD_Regressor

    cls = RealMLP_TD_Classifier if data.classification else RealMLP_TD_Regressor
    train, _ = realmlp_frames(data)
    quick = {"n_epochs": QUICK_EPOCHS} if o.quick else {}
    model = cls(device="cpu", random_state=o.seed, n_threads=o.threads, verbosity=0, **quick)
    what = f"--quick: {QUICK_EPOCHS} epochs, else defaults" if o.quick else "defaults"
    return model.fit(train, data.y_train), f"RealMLP-TD {what} (cpu)"


def realmlp_frames(data: Data) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test = as_categories(data)
    medians = train[data.numeric].median()
    return train.fillna(medians), test.fillna(medians)


METHODS = {"sklearn-mlp": fit_sklearn_mlp, "sklearn-search": fit_sklearn_search,
           "hgb": fit_hgb, "realmlp": fit_realmlp}


def test_inputs(method: str, data: Data) -> pd.DataFrame:
    if method == "hgb":
        return as_categories(data)[1]
    if method == "realmlp":
        return realmlp_frames(data)[1]
    return data.X_test


def score(data: Data, predictions: np.ndarray) -> float:
    if data.classification:
        return float(np.mean(np.asarray(predictions).astype(str) == data.y_test))
    from sklearn.metrics import r2_score

    return float(r2_score(data.y_test, np.asarray(predictions, dtype=float)))


def run(method: str, table: str, data_dir: Path, o: Opts) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    data = load(data_dir, table)
    with threadpool_limits(limits=o.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        model, detail = METHODS[method](data, o)
        seconds = time.perf_counter() - t0
        predictions = model.predict(test_inputs(method, data))
    return {"method": method, "table": table, "score": score(data, predictions),
            "seconds": seconds, "detail": detail, "versions": versions()}


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("scikit-learn", "pytabkit", "torch")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("method", choices=sorted(METHODS))
    ap.add_argument("table")
    ap.add_argument("--data", type=Path, required=True, help="folder written by tables.py")
    ap.add_argument("--budget", type=float, default=120.0, help="seconds (sklearn-search)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: RealMLP-TD trains {QUICK_EPOCHS} epochs")
    args = ap.parse_args()
    os.environ["PYTHONWARNINGS"] = "ignore"  # the search's worker processes
    import torch

    torch.set_num_threads(args.threads)
    opts = Opts(args.budget, args.threads, args.seed, args.quick)
    print(json.dumps(run(args.method, args.table, args.data, opts)))


if __name__ == "__main__":
    main()
