"""The main job, measured: ``netrx improve`` with a fixed wall-clock budget and no
hand-tuning, next to scikit-learn's ``MLPClassifier`` (default settings, and searched by
``RandomizedSearchCV`` for the same budget), on the same splits.

Parts (each one process of this script, each with the whole machine):

=====================  ====================================================================
``netrx-mnist1d-mlp``   ``netrx improve mnist1d --family mlp``
``netrx-mnist1d-cnn``   ``netrx improve mnist1d --family cnn1d`` (the paper's CNN family)
``netrx-digits``        ``netrx improve digits`` (``--family auto``: mlp, cnn2d, resnet2d)
``sklearn-default-D``   ``MLPClassifier()`` fitted on train + dev (D: mnist1d, digits)
``sklearn-search-D``    ``RandomizedSearchCV(MLPClassifier())`` over width / depth, α (L2),
                        learning rate, batch size and early stopping, selecting on netrx's
                        dev split (``PredefinedSplit``), in rounds while the budget lasts;
                        the winner is refitted on train + dev inside the budget
=====================  ====================================================================

Every tool sees the same train / dev / test split (``netrx.experiment.execute.prepare``, seed 0,
inputs standardised on the training set); the test set is evaluated once, for the chosen
model. Results are written to ``--results`` (one JSON file per part, so that an interrupted
bench keeps the parts it finished) and the table of every finished part is printed at the
end (``--table`` prints it without running anything).

    python bench/improve.py                      # every part, 15 minutes each (≈80 min)
    python bench/improve.py --only netrx-digits --budget 5m
    python bench/improve.py --table

Targets of the issue: MNIST-1D MLP family ≥ 90 %, convolutional family ≥ 99.3 %,
digits ≥ 99 % test accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch

NETRX = {"netrx-mnist1d-mlp": ("mnist1d", "mlp"), "netrx-mnist1d-cnn": ("mnist1d", "cnn1d"),
         "netrx-digits": ("digits", "auto")}
DATASETS = ("mnist1d", "digits")
PARTS = (*NETRX, *(f"sklearn-default-{d}" for d in DATASETS),
         *(f"sklearn-search-{d}" for d in DATASETS))
TARGETS = {"mnist1d": {"mlp": 0.90, "cnn1d": 0.993}, "digits": {"auto": 0.99}}


def load_splits(dataset: str) -> dict[str, np.ndarray]:
    """netrx's own split and standardisation (what ``netrx improve`` sees), as arrays."""
    from netrx.config import parse_config
    from netrx.experiment import prepare

    s = prepare(parse_config({"data": {"dataset": dataset}, "seed": 0})).splits
    flat = {name: part.X.reshape(len(part.X), -1).astype(np.float32)
            for name, part in (("train", s.train), ("dev", s.dev), ("test", s.test))}
    return {**{f"X_{k}": v for k, v in flat.items()},
            "y_train": s.train.y, "y_dev": s.dev.y, "y_test": s.test.y}


def run_netrx(part: str, budget: float, out: Path) -> dict:
    import netrx

    dataset, family = NETRX[part]
    name = f"{part}-{int(time.time())}"
    t0 = time.perf_counter()
    result = netrx.improve(dataset, budget=budget, family=family, out=str(out), name=name,
                           log=lambda line: print(line, flush=True))
    wall = time.perf_counter() - t0
    decisions = result.decisions
    return {"part": part, "tool": f"netrx improve {dataset} --family {family}",
            "dataset": dataset, "wall_s": wall, "budget_s": budget,
            "test_acc": 1.0 - float(result.final["test_error"]),
            "dev_acc": 1.0 - float(result.final["dev_error"]),
            "chosen": result.final["chosen_text"], "model": _model_text(result.config),
            "rounds": sum(1 for d in decisions if d["rule"] == "bias / variance verdict"),
            "run_dir": str(result.run_dir),
            "target": TARGETS[dataset].get(family)}


def _model_text(cfg) -> str:
    m = cfg.model
    size = m.hidden if m.family == "mlp" else (m.width or m.channels or "(default size)")
    return f"{m.family} {size}, {cfg.optimizer.name} α={_fmt(cfg.optimizer.lr)}, " \
           f"dropout {_fmt(m.dropout)}, L2 {_fmt(cfg.regularization.l2)}, " \
           f"augment {cfg.augment.preset}, {cfg.train.epochs} epochs"


def _fmt(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _quiet_sklearn() -> None:
    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    os.environ["PYTHONWARNINGS"] = "ignore"  # the search's worker processes


def run_sklearn_default(dataset: str, budget: float) -> dict:
    from sklearn.neural_network import MLPClassifier

    _quiet_sklearn()
    d = load_splits(dataset)
    X = np.concatenate([d["X_train"], d["X_dev"]])
    y = np.concatenate([d["y_train"], d["y_dev"]])
    t0 = time.perf_counter()
    model = MLPClassifier(random_state=0).fit(X, y)
    wall = time.perf_counter() - t0
    return {"part": f"sklearn-default-{dataset}", "tool": "MLPClassifier() defaults",
            "dataset": dataset, "wall_s": wall, "budget_s": budget,
            "test_acc": float(model.score(d["X_test"], d["y_test"])), "dev_acc": None,
            "chosen": "one model (fitted on train + dev)",
            "model": "mlp [100], adam α=0.001, L2 α=1e-4, 200 epochs", "rounds": None}


def run_sklearn_search(dataset: str, budget: float) -> dict:
    from scipy.stats import loguniform
    from sklearn.model_selection import PredefinedSplit, RandomizedSearchCV
    from sklearn.neural_network import MLPClassifier

    _quiet_sklearn()
    d = load_splits(dataset)
    X = np.concatenate([d["X_train"], d["X_dev"]])
    y = np.concatenate([d["y_train"], d["y_dev"]])
    fold = PredefinedSplit(np.r_[np.full(len(d["y_train"]), -1), np.zeros(len(d["y_dev"]))])
    space = {"hidden_layer_sizes": [(100,), (256,), (512,), (100, 100), (256, 256),
                                    (512, 512), (256, 256, 256)],
             "alpha": loguniform(1e-6, 1e1), "learning_rate_init": loguniform(1e-4, 1e-1),
             "batch_size": [32, 64, 128, 256], "early_stopping": [False, True]}
    n_jobs = os.cpu_count() or 1
    results: list[tuple[float, dict, float]] = []
    t0 = time.perf_counter()
    rounds, round_s = 0, 0.0
    # rounds of 2·n_jobs configurations; stop when another round and the refit (about one
    # configuration's time) would not fit in the budget
    while True:
        left = budget - (time.perf_counter() - t0)
        per_config = round_s / max(len(results), 1) * n_jobs if results else 0.0
        if results and left < round_s / rounds + per_config:
            break
        t_round = time.perf_counter()
        search = RandomizedSearchCV(MLPClassifier(random_state=0), space, n_iter=2 * n_jobs,
                                    cv=fold, n_jobs=n_jobs, refit=False, random_state=rounds)
        search.fit(X, y)
        results += [(float(s), p, float(t)) for s, p, t in zip(
            search.cv_results_["mean_test_score"], search.cv_results_["params"],
            search.cv_results_["mean_fit_time"])]
        rounds += 1
        round_s += time.perf_counter() - t_round
    score, params, _ = max(results, key=lambda r: r[0])
    model = MLPClassifier(random_state=0, **params).fit(X, y)  # RandomizedSearchCV's refit
    wall = time.perf_counter() - t0
    shown = {k: (list(v) if isinstance(v, tuple) else _fmt(v)) for k, v in params.items()}
    return {"part": f"sklearn-search-{dataset}", "tool": "RandomizedSearchCV(MLPClassifier)",
            "dataset": dataset, "wall_s": wall, "budget_s": budget,
            "test_acc": float(model.score(d["X_test"], d["y_test"])), "dev_acc": score,
            "chosen": f"best of {len(results)} configurations (refitted on train + dev)",
            "model": ", ".join(f"{k} {v}" for k, v in shown.items()), "rounds": rounds}


def run_part(part: str, budget: float, out: Path) -> dict:
    if part in NETRX:
        return run_netrx(part, budget, out)
    kind, dataset = part.rsplit("-", 1)
    if kind == "sklearn-default":
        return run_sklearn_default(dataset, budget)
    return run_sklearn_search(dataset, budget)


def print_table(results: Path) -> None:
    rows = [json.loads(p.read_text()) for p in sorted(results.glob("*.json"))]
    if not rows:
        print(f"no results in {results}")
        return
    order = {p: i for i, p in enumerate(PARTS)}
    rows.sort(key=lambda r: (DATASETS.index(r["dataset"]), order.get(r["part"], 99)))
    head = f"{'dataset':8} {'tool':42} {'budget':>7} {'wall':>7} {'dev acc':>8} " \
           f"{'test acc':>9} {'target':>7}"
    print(head)
    print("-" * len(head))
    for r in rows:
        dev = "—" if r.get("dev_acc") is None else f"{100 * r['dev_acc']:.1f}%"
        target = "" if r.get("target") is None else f"{100 * r['target']:.1f}%"
        print(f"{r['dataset']:8} {r['tool'][:42]:42} {r['budget_s']:6.0f}s {r['wall_s']:6.0f}s "
              f"{dev:>8} {100 * r['test_acc']:8.1f}% {target:>7}")
    print()
    for r in rows:
        print(f"{r['part']}: {r['chosen']}; {r['model']}"
              + (f"; {r['rounds']} rounds" if r.get("rounds") is not None else ""))
    meta = rows[0].get("machine", {})
    if meta:
        print(f"\nmachine: {meta}")


def main() -> None:
    from netrx.train.deadline import parse_duration

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", default="15m", help="wall clock per part, e.g. 15m, 300s")
    ap.add_argument("--only", nargs="+", choices=PARTS, help="run these parts only")
    ap.add_argument("--results", default="bench/results/improve",
                    help="folder of the per-part JSON results")
    ap.add_argument("--out", default="runs/bench-improve", help="parent of netrx's run dirs")
    ap.add_argument("--table", action="store_true", help="print the results, run nothing")
    args = ap.parse_args()
    results = Path(args.results)
    if not args.table:
        budget = parse_duration(args.budget)
        results.mkdir(parents=True, exist_ok=True)
        for part in args.only or PARTS:
            print(f"== {part} ({budget:.0f} s)", flush=True)
            row = run_part(part, budget, Path(args.out))
            row["machine"] = {"cpus": os.cpu_count(), "torch": torch.__version__,
                              "torch_threads": torch.get_num_threads(),
                              "python": platform.python_version()}
            (results / f"{part}.json").write_text(json.dumps(row, indent=2))
            print(f"== {part}: test accuracy {100 * row['test_acc']:.1f}% "
                  f"in {row['wall_s']:.0f} s", flush=True)
    print_table(results)


if __name__ == "__main__":
    main()
