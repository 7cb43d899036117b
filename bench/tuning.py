"""Tuning bench: the same wall-clock budget, the same data and the same search space over
MLPs, three tools in one run.

- ``netrx tune``: trials stream through a population of 32 slots, ASHA on epochs (rungs
  1, 3, 9, 27), TPE, the default SQLite study in a temporary run directory;
- Optuna TPE calling a plain PyTorch training loop, one trial at a time (in-memory study,
  every trial trained for the full number of epochs, as a script written by hand would);
- scikit-learn ``RandomizedSearchCV(MLPClassifier)`` with ``loguniform`` distributions,
  on the same train/dev split (``PredefinedSplit``), in rounds until the budget is spent.

Data: MNIST-1D (4000 training examples, of which 20% are the dev set, and its own 1000 test
examples), standardised on the training set. Space: learning rate log-uniform in
[1e-4, 1e-1], L2 strength λ log-uniform in [1e-6, 1e-1] (λ/2m Σ‖W‖²_F, which is exactly
scikit-learn's ``alpha``), hidden layers (64, 64), (128, 128) or (256, 256); Adam,
batch 128, at most 27 epochs, He initialisation, ReLU.

Printed per tool: configurations evaluated (trained at least one epoch), configurations
trained to the end, the best dev accuracy, and the test accuracy of the winner (retrained
from its config after the search, outside the budget; the test set is seen once).

    python bench/tuning.py --budget 240       # about 13 minutes in all
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
import warnings

import numpy as np
import torch

EPOCHS = 27
BATCH = 128
WIDTHS = ((64, 64), (128, 128), (256, 256))
LR = (1e-4, 1e-1)
L2 = (1e-6, 1e-1)


def load_data() -> dict[str, np.ndarray]:
    from netrx.config import parse_config
    from netrx.experiment import prepare

    p = prepare(parse_config({"data": {"dataset": "mnist1d"}, "seed": 0}))
    s = p.splits
    return {"X_train": s.train.X.astype(np.float32), "y_train": s.train.y.astype(np.int64),
            "X_dev": s.dev.X.astype(np.float32), "y_dev": s.dev.y.astype(np.int64),
            "X_test": s.test.X.astype(np.float32), "y_test": s.test.y.astype(np.int64)}


# -- netrx -----------------------------------------------------------------------------


def run_netrx(budget: float, slots: int, strategy: str) -> dict:
    from netrx.config import parse_config
    from netrx.experiment import run
    from netrx.tune import tune
    from netrx.tune.exports import epochs_of

    cfg = {
        "seed": 0,
        "data": {"dataset": "mnist1d"},
        "model": {"family": "mlp", "hidden": [128, 128], "activation": "relu", "init": "he"},
        "optimizer": {"name": "adam"},
        "train": {"epochs": EPOCHS, "batch_size": BATCH},
        "search": {
            "space": {"optimizer.lr": f"log_uniform({LR[0]}, {LR[1]})",
                      "regularization.l2": f"log_uniform({L2[0]}, {L2[1]})",
                      "model.hidden": "choice(" + ", ".join(str(list(w)) for w in WIDTHS) + ")"},
            "strategy": strategy, "trials": 100_000, "slots": slots, "pruner": "asha",
            "min_epochs": 1, "max_epochs": EPOCHS, "reduction_factor": 3},
    }
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        result = tune(cfg, budget=budget, out=out, name="bench")
        wall = time.perf_counter() - t0
        trials = result.study.get_trials()
        evaluated = sum(epochs_of(t) > 0 for t in trials)
        full = sum(t.state.name == "COMPLETE" for t in trials)
        best = result.summary["best"]
        row = {"tool": "netrx tune (population + ASHA)", "wall_s": wall, "evaluated": evaluated,
               "full": full, "dev_acc": math.nan, "test_acc": math.nan, "best": None}
        if best is None:  # no trial reached the last epoch within the budget
            return row
        import yaml

        best_cfg = parse_config(yaml.safe_load((result.run_dir / "best.yaml").read_text()))
        final = run(best_cfg, progress=False, write=False)
    row.update(dev_acc=1 - best["value"], test_acc=1 - final.test["error"],
               best=dict(best["values"]))
    return row


# -- Optuna + plain PyTorch, one trial at a time ----------------------------------------


def _mlp(widths: tuple[int, ...]) -> torch.nn.Module:
    layers, n_in = [], 40
    for w in widths:
        lin = torch.nn.Linear(n_in, w)
        torch.nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        torch.nn.init.zeros_(lin.bias)
        layers += [lin, torch.nn.ReLU()]
        n_in = w
    out = torch.nn.Linear(n_in, 10)
    torch.nn.init.kaiming_normal_(out.weight, nonlinearity="relu")
    torch.nn.init.zeros_(out.bias)
    return torch.nn.Sequential(*layers, out)


def train_plain(data: dict, lr: float, l2: float, widths: tuple[int, ...],
                seed: int = 0) -> torch.nn.Module:
    """Adam on cross-entropy + λ/2m Σ‖W‖²_F, batch 128, EPOCHS epochs."""
    torch.manual_seed(seed)
    model = _mlp(widths)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    X, y = torch.from_numpy(data["X_train"]), torch.from_numpy(data["y_train"])
    m = len(y)
    weights = [p for p in model.parameters() if p.dim() == 2]
    gen = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        perm = torch.randperm(m, generator=gen)
        for i in range(0, m, BATCH):
            idx = perm[i:i + BATCH]
            loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
            loss = loss + l2 / (2 * m) * sum(w.pow(2).sum() for w in weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model


@torch.no_grad()
def accuracy(model: torch.nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    return float((model(torch.from_numpy(X)).argmax(1).numpy() == y).mean())


def run_optuna(budget: float, data: dict) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    names = {",".join(map(str, w)): w for w in WIDTHS}

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", *LR, log=True)
        l2 = trial.suggest_float("l2", *L2, log=True)
        widths = names[trial.suggest_categorical("hidden", list(names))]
        model = train_plain(data, lr, l2, widths)
        return 1 - accuracy(model, data["X_dev"], data["y_dev"])

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    t0 = time.perf_counter()
    study.optimize(objective, timeout=budget)
    wall = time.perf_counter() - t0
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    best = study.best_trial
    model = train_plain(data, best.params["lr"], best.params["l2"],
                        names[best.params["hidden"]])
    return {"tool": "Optuna TPE + plain PyTorch loop", "wall_s": wall, "evaluated": len(done),
            "full": len(done), "dev_acc": 1 - best.value,
            "test_acc": accuracy(model, data["X_test"], data["y_test"]),
            "best": dict(best.params)}


# -- scikit-learn -------------------------------------------------------------------------


def run_sklearn(budget: float, data: dict, n_jobs: int) -> dict:
    from scipy.stats import loguniform
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import PredefinedSplit, RandomizedSearchCV
    from sklearn.neural_network import MLPClassifier

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning")
    X = np.concatenate([data["X_train"], data["X_dev"]])
    y = np.concatenate([data["y_train"], data["y_dev"]])
    fold = np.r_[np.full(len(data["y_train"]), -1), np.zeros(len(data["y_dev"]))]
    base = MLPClassifier(solver="adam", batch_size=BATCH, max_iter=EPOCHS, tol=0.0,
                         n_iter_no_change=EPOCHS + 1, random_state=0)
    space = {"learning_rate_init": loguniform(*LR), "alpha": loguniform(*L2),
             "hidden_layer_sizes": list(WIDTHS)}
    results: list[tuple[float, dict]] = []
    t0 = time.perf_counter()
    round_ = 0
    while time.perf_counter() - t0 < budget:  # rounds of 2·n_jobs configurations
        search = RandomizedSearchCV(base, space, n_iter=2 * n_jobs, cv=PredefinedSplit(fold),
                                    n_jobs=n_jobs, refit=False, random_state=round_)
        search.fit(X, y)
        results += list(zip(search.cv_results_["mean_test_score"], search.cv_results_["params"]))
        round_ += 1
    wall = time.perf_counter() - t0
    score, params = max(results, key=lambda r: r[0])
    final = MLPClassifier(solver="adam", batch_size=BATCH, max_iter=EPOCHS, tol=0.0,
                          n_iter_no_change=EPOCHS + 1, random_state=0, **params)
    final.fit(data["X_train"], data["y_train"])
    return {"tool": "scikit-learn RandomizedSearchCV(MLPClassifier)", "wall_s": wall,
            "evaluated": len(results), "full": len(results), "dev_acc": float(score),
            "test_acc": float(final.score(data["X_test"], data["y_test"])),
            "best": {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=float, default=240.0, help="seconds per tool")
    ap.add_argument("--slots", type=int, default=32, help="netrx population slots")
    ap.add_argument("--strategy", default="tpe", help="netrx sampler (tpe, random, ...)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads and sklearn jobs")
    ap.add_argument("--only", choices=("netrx", "optuna", "sklearn"), default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load_data()
    print(f"MNIST-1D: {len(data['y_train'])} train, {len(data['y_dev'])} dev, "
          f"{len(data['y_test'])} test; budget {args.budget:g} s per tool, "
          f"{args.threads} threads", flush=True)
    rows = []
    runners = {"netrx": lambda: run_netrx(args.budget, args.slots, args.strategy),
               "optuna": lambda: run_optuna(args.budget, data),
               "sklearn": lambda: run_sklearn(args.budget, data, args.threads)}
    for key, fn in runners.items():
        if args.only and key != args.only:
            continue
        row = fn()
        rows.append(row)
        print(f"{row['tool']}: {row['evaluated']} configurations evaluated "
              f"({row['full']} trained to {EPOCHS} epochs) in {row['wall_s']:.0f} s; "
              f"best dev accuracy {row['dev_acc']:.4f}, its test accuracy "
              f"{row['test_acc']:.4f}; best {row['best']}", flush=True)
    if len(rows) == 3:
        n = rows[0]
        print()
        print(f"{'tool':50s} {'configs':>8s} {'full':>6s} {'dev acc':>8s} {'test acc':>9s}")
        for r in rows:
            print(f"{r['tool']:50s} {r['evaluated']:8d} {r['full']:6d} {r['dev_acc']:8.4f} "
                  f"{r['test_acc']:9.4f}")
        for peer in rows[1:]:
            ratio = n["evaluated"] / max(1, peer["evaluated"])
            print(f"netrx evaluated {ratio:.1f}× the configurations of {peer['tool']}; dev "
                  f"accuracy {n['dev_acc'] - peer['dev_acc']:+.4f}")
        ok = all(n["evaluated"] >= 5 * p["evaluated"] and n["dev_acc"] > p["dev_acc"]
                 for p in rows[1:])
        print("target (≥ 5× the configurations and a better dev accuracy than both): "
              + ("met" if ok else "NOT met"))


if __name__ == "__main__":
    main()
