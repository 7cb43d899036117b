"""Permutation feature importance of a table run, measured on the dev set (never test).

Importance of column j = e(X with column j's values shuffled across rows) − e(X), the
rise in the chosen predictor's dev error e (1 − accuracy, or MSE/σ² for regression),
i.e. the drop in its score 1 − e; mean ± standard deviation (ddof 0, as scikit-learn's
``permutation_importance``) over R shuffles. Columns are those of the input table: a
text column's one-hot block (``island=Biscoe``, ``island=Dream``, ...) is shuffled as
one, with the same row permutation, so each row keeps a valid one-hot code. Shuffling a
transformed column is shuffling the raw one, since the preprocessing works row by row.

A column the model ignores scores ≈ 0; a negative score means shuffling it helped, which
is noise on a small dev set. Correlated columns share their importance: shuffling one
leaves its twin to carry the signal, so both can look unimportant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from netrx.ensemble import ensemble_error
from netrx.experiment.evaluate import RunResult, as_probabilities
from netrx.experiment.prepared import Prepared

#: R, shuffles per column
REPEATS = 5
#: dev rows used at most (a seeded sample beyond it)
MAX_ROWS = 2000
#: tables with more columns than this get no importance (too slow for the end of a run)
MAX_COLUMNS = 200


def permutation_importance(error: Callable[[np.ndarray], float], X: np.ndarray,
                           groups: Sequence[Sequence[int]], repeats: int = REPEATS,
                           seed: int = 0) -> tuple[float, np.ndarray]:
    """The error e(X) of the unshuffled rows and the rises e(X_perm) − e(X) [G, R]: for
    each group of columns of ``X`` [n, d] and each repeat, one random row permutation
    applied to every column of the group."""
    rng = np.random.default_rng(seed)
    X = np.asarray(X)
    base = float(error(X))
    rises = np.empty((len(groups), repeats))
    for g, cols in enumerate(groups):
        cols = list(cols)
        for r in range(repeats):
            shuffled = X.copy()
            shuffled[:, cols] = X[rng.permutation(len(X))][:, cols]
            rises[g, r] = float(error(shuffled)) - base
    return base, rises


def column_groups(prepared: Prepared) -> list[tuple[str, list[int]]] | None:
    """The input table's columns, each with its positions in the transformed input (one
    for a number, the one-hot block for a text column); None when the inputs are not a
    table (images, signals: [C, L] or unnamed x0, x1, ... with 16 or more features)."""
    ds, pre = prepared.dataset, prepared.preprocessor
    shape = tuple(prepared.input_shape)
    if len(shape) != 1 or len(tuple(ds.input_shape)) != 1:
        return None
    names = [str(c) for c in getattr(pre, "columns_", None) or ds.columns]
    unnamed = all(c == f"x{i}" for i, c in enumerate(names))
    if unnamed and len(names) >= 16:
        return None
    width = {j: len(levels) for j, levels in zip(getattr(pre, "categorical_", ()),
                                                 getattr(pre, "categories_", []), strict=False)}
    groups, start = [], 0
    for j, name in enumerate(names):
        groups.append((name, list(range(start, start + width.get(j, 1)))))
        start += width.get(j, 1)
    return groups if start == shape[0] else None


def feature_importance(result: RunResult, repeats: int = REPEATS,
                       max_rows: int = MAX_ROWS) -> dict[str, Any] | None:
    """Permutation importance of every column of a table run for its chosen predictor
    (the best member, or the mean of the ensemble's members) on at most ``max_rows`` dev
    rows, seeded by the run's seed; None without a table, a dev set or with more than
    :data:`MAX_COLUMNS` columns. The features are sorted by mean importance, largest
    first."""
    prepared, pop = result.prepared, result.population
    dev = prepared.splits.dev
    groups = column_groups(prepared)
    if groups is None or not len(dev.y) or len(groups) > MAX_COLUMNS:
        return None
    members = [int(k) for k in (result.extras.get("ensemble_members") or [result.best])]
    seed = int(result.config.seed)
    n = len(dev.y)
    rows = np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False)) \
        if n > max_rows else np.arange(n)
    X = np.asarray(dev.X, np.float32)[rows]
    y = torch.as_tensor(np.asarray(dev.y)[rows])
    obj = prepared.objective
    # one member: its standalone module (the cost of one network, not K); several: one
    # population pass for all K (one batched call instead of |S| module calls)
    single = pop.member_module(members[0]) if len(members) == 1 else None
    chosen = torch.as_tensor(members, device=pop.device)

    def error(values: np.ndarray) -> float:
        x = torch.as_tensor(values).to(pop.device, pop.dtype)
        z = single(x).unsqueeze(0) if single is not None \
            else pop.forward(x, train=False, shared=True).index_select(0, chosen)
        if prepared.task == "classification":
            z = as_probabilities(z, obj.name)
        return ensemble_error(z.mean(0), y, obj)

    with torch.no_grad():
        base, rises = permutation_importance(error, X, [g for _, g in groups], repeats, seed)
    features = [{"column": name, "mean": float(r.mean()), "sd": float(r.std()),
                 "values": [float(v) for v in r]} for (name, _), r in zip(groups, rises,
                                                                          strict=True)]
    features.sort(key=lambda f: -f["mean"])
    return {"split": "dev", "rows": len(rows), "repeats": repeats, "seed": seed,
            "members": members, "baseline_error": base,
            "what": "rise in dev error when the column's values are shuffled across rows",
            "features": features}
