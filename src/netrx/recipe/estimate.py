"""An honest dev estimate of one config, for the decisions of ``netrx improve``.

A config chosen as the best of K members (or of many trials) on dev has a dev error biased
low by the choice itself: the minimum of K noisy numbers. Its estimate therefore comes from
**fresh seeds**, never the ones that chose it, and is the **mean** over members, not the
minimum:

    ê = 1/(F·K) Σ_f Σ_k e_dev(f, k),   se = sd_{f,k}(e_dev) / √(F·K)

- Small data (train + dev under :data:`SMALL` rows): F-fold cross-validation of train ∪ dev
  (stratified for classes, the same folds for every candidate so that comparisons are
  paired); fold f trains on the other folds and is its dev set. The test set is never
  touched. The preprocessing fitted on the original training part is kept (the folds
  re-split already transformed rows).
- Otherwise F = 1: the original train / dev split, K fresh seeds.

Each fit is a population of K members with early stopping (best weights kept), so K seeds
cost about one fit on small data.
"""

from __future__ import annotations

import dataclasses
import math
import time
import zlib
from typing import Any

import numpy as np

from netrx.config import RunConfig
from netrx.data.split import Split, Splits, _partition
from netrx.experiment.prepared import Prepared
from netrx.recipe.steps import early_stopping_for, single_config, train_population
from netrx.train.deadline import Budget

#: below this many train + dev rows, estimates use k-fold cross-validation
SMALL = 5000
FOLDS = 5


def fresh_seed(seed: int, label: str) -> int:
    """A seed block for the estimate named ``label``: ``seed + 10_000 + crc32(label) mod
    10⁶``, far from the selection seeds ``seed … seed + K − 1`` and the same on resume."""
    return int(seed) + 10_000 + zlib.crc32(label.encode()) % 1_000_000


def n_folds(prepared: Prepared) -> int:
    """F: :data:`FOLDS` for small data (train + dev < :data:`SMALL` rows), else 1."""
    n = len(prepared.splits.train.y) + len(prepared.splits.dev.y)
    return FOLDS if n < SMALL else 1


def train_and_dev(prepared: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """The rows of train ∪ dev (already transformed), train first: what the folds and a
    refit on every row share out."""
    s = prepared.splits
    return np.concatenate([s.train.X, s.dev.X]), np.concatenate([s.train.y, s.dev.y])


def folds(prepared: Prepared, k: int, seed: int) -> list[Prepared]:
    """``k`` copies of ``prepared`` whose train / dev re-partition train ∪ dev into k
    stratified folds (fold f is dev of copy f); the test part is the same object."""
    s = prepared.splits
    X, y = train_and_dev(prepared)
    classify = prepared.task == "classification"
    parts = _partition(len(y), [1.0 / k] * (k - 1), y if classify else None,
                       prepared.dataset.classes if classify else (),
                       np.random.default_rng(seed))
    out = []
    for f in range(k):
        rest = np.concatenate([p for i, p in enumerate(parts) if i != f])
        splits = Splits(Split(X[rest], y[rest]), Split(X[parts[f]], y[parts[f]]), s.test)
        out.append(dataclasses.replace(prepared, splits=splits))
    return out


def estimate(cfg: RunConfig, prepared: Prepared, *, members: int, seed: int, label: str,
             seconds: float, k_folds: int | None = None) -> dict[str, Any]:
    """The honest dev estimate of ``cfg`` (see the module docstring) within about
    ``seconds``: ``{dev_error, dev_se, train_error, folds, members, seconds, epochs_run,
    seed}``. Each fold may take all the time left; folds the budget cannot hold after that
    (judged by the folds so far) are left out, at least one is trained."""
    k = n_folds(prepared) if k_folds is None else int(k_folds)
    parts = folds(prepared, k, int(seed)) if k > 1 else [prepared]
    s0 = fresh_seed(seed, label)
    fit_cfg = single_config(cfg, **{"members": int(members), "seed": s0,
                                    "train.early_stopping": early_stopping_for(cfg.train.epochs)})
    clock = Budget(seconds)
    dev: list[float] = []
    train: list[float] = []
    fold_dev: list[float] = []  # per fold: the mean over its members
    best: list[int] = []  # per member and fold: the epoch early stopping restored
    epochs, used = [], 0
    t0 = time.monotonic()
    for part in parts:
        # a fold gets all the time left: fewer folds, never starved ones (a fit cut short
        # by the clock measures how fast a config learns, not how well)
        if used and clock.remaining < (time.monotonic() - t0) / used:
            break
        _, history, rows = train_population(fit_cfg, part, Budget(max(clock.remaining, 1.0)))
        fold = [r["dev_error"] for r in rows if r["dev_error"] is not None]
        dev += fold
        fold_dev.append(float(np.mean(fold)) if fold else math.nan)  # NaN: all diverged
        best += best_epochs(history, [r["member"] for r in rows if r["dev_error"] is not None])
        train += [r["train_error"] for r in rows if r["train_error"] is not None]
        epochs.append(len(history.logs))
        used += 1
    if not dev:
        return {"dev_error": None, "dev_se": None, "train_error": None, "folds": used,
                "members": int(members), "seconds": time.monotonic() - t0,
                "epochs_run": max(epochs, default=0), "seed": s0}
    d = np.asarray(dev)
    se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else 0.0
    return {"dev_error": float(d.mean()), "dev_se": se,
            "train_error": float(np.mean(train)) if train else None, "folds": used,
            "members": int(members), "seconds": (time.monotonic() - t0) / used,
            "epochs_run": int(np.median(epochs)), "seed": s0, "fold_dev": fold_dev,
            "best_epoch": int(np.median(best)) if best else None}


def best_epochs(history: Any, members: list[int]) -> list[int]:
    """The epoch (1-based) of each member's lowest dev loss: the one early stopping on the
    dev loss restores."""
    losses = [log.dev_loss for log in history.logs if log.dev_loss is not None]
    if not losses:
        return []
    table = np.asarray(losses, dtype=float)  # [epochs, K]
    table = np.where(np.isfinite(table), table, np.inf)
    return [int(np.argmin(table[:, k])) + 1 for k in members]


def common_folds(estimates: list[dict[str, Any]]) -> int:
    """The fewest folds of any estimate that has per-fold means (0 if none has)."""
    return min((len(e["fold_dev"]) for e in estimates
                if e.get("dev_error") is not None and e.get("fold_dev")), default=0)


def as_current(est: dict[str, Any], config: dict[str, Any], members: int, step: str,
               **extra: Any) -> dict[str, Any]:
    """The state an improve step keeps of the config it settles on: its estimate's errors,
    cost (seconds and epochs per fold), per-fold means and restored epoch."""
    return {"config": config, "train_error": est["train_error"],
            "dev_error": est["dev_error"], "dev_se": est["dev_se"], "seconds": est["seconds"],
            "epochs_run": est["epochs_run"], "members": members, "step": step,
            "fold_dev": est.get("fold_dev"), "best_epoch": est.get("best_epoch"), **extra}


def paired(estimates: list[dict[str, Any]]) -> list[float | None]:
    """The candidates' dev errors on the folds they all have: estimates of different
    configs share their folds (:func:`folds`, the same seed), but one the clock cut to
    fewer folds would otherwise be compared, on other rows, with the mean over all F. Each
    error is then the mean of its first n per-fold means, n the fewest folds of any
    candidate (a fold whose members all diverged is left out of its mean); an estimate
    without per-fold means keeps its own ``dev_error``."""
    n = common_folds(estimates)
    out: list[float | None] = []
    for e in estimates:
        per_fold = e.get("fold_dev") if e.get("dev_error") is not None else None
        first = [v for v in (per_fold or [])[:n] if not math.isnan(v)]
        out.append(float(np.mean(first)) if first else e.get("dev_error"))
    return out


def difference_se(a: dict[str, Any], b: dict[str, Any]) -> float:
    """The standard error of the difference of two estimates of different seeds,
    √(se_a² + se_b²): what their dev errors may differ by from noise alone."""
    return math.hypot(float(a.get("dev_se") or 0.0), float(b.get("dev_se") or 0.0))


def describe(e: dict[str, Any]) -> str:
    """``dev 0.0412 ± 0.0031 (5 folds × 8 seeds)`` for the decision log."""
    if e.get("dev_error") is None:
        return f"all {e['members']} members of {e['folds']} fit(s) diverged"
    where = f"{e['folds']} folds × {e['members']} seeds" if e["folds"] > 1 else \
        f"{e['members']} fresh seeds"
    return f"dev {e['dev_error']:.4g} ± {e['dev_se']:.2g} ({where})"
