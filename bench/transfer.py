"""Transfer learning on MNIST-1D: pre-train on digits 0–4, then learn digits 5–9 from 10, 50
and 200 examples per class, from scratch and with each plan of the notes' table.

    python bench/transfer.py            # prints a Markdown table (about 3–5 min on 2 cores)

Every condition trains K members (seeds seed…seed+K−1) for the same number of updates
with Adam; the table gives the mean ± standard deviation over members of the test error
on the 5–9 digits of MNIST-1D's test split. Each row's train/dev sets are n per class for
training plus n/4 per class for dev (what picks the stage of the "stages" plan). The plans
are applied with :func:`netrx.transfer.plans.resolve` and trained with
:func:`netrx.experiment.execute.run`, the code path of ``netrx train --init-from``.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from netrx.config import parse_config
from netrx.data import load
from netrx.experiment import prepare, run
from netrx.experiment.transfer import resolve
from netrx.transfer import layer_groups, strategy

PLANS = {  # column -> (examples per class that selects the cell, similarity)
    "linear on top": (1, "similar"),
    "linear from stages": (1, "different"),
    "finetune a few": (10**6, "similar"),
    "finetune more": (10**6, "different"),
}


def _config(dataset: Path, out: Path, name: str, args: argparse.Namespace, epochs: int,
            **transfer: object):
    return parse_config({
        "name": name, "out": str(out), "seed": args.seed, "members": args.members,
        "device": args.device, "data": {"dataset": str(dataset), "dev": 0.2},
        "model": {"family": "cnn1d", "channels": args.channels},
        "optimizer": {"name": "adam", "lr": args.lr},
        "train": {"epochs": epochs, "batch_size": args.batch_size},
        "transfer": transfer})


def _epochs(n_train: int, updates: int, batch_size: int) -> int:
    return max(1, math.ceil(updates / math.ceil(n_train / min(batch_size, n_train))))


def _test_errors(result) -> np.ndarray:
    """Test error (%) of every member (run() reports the test error of the best only)."""
    from netrx.experiment.execute import _tensors
    from netrx.train import evaluate

    test = result.prepared.splits.test
    X, y = _tensors(test, result.population, result.prepared.objective)
    _, err = evaluate(result.population, X, y, result.prepared.objective)
    return 100 * err.double().cpu().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--updates", type=int, default=400, help="updates per condition")
    parser.add_argument("--pretrain-epochs", type=int, default=40)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()

    ds = load("mnist1d")
    rng = np.random.default_rng(args.seed)
    work = Path(tempfile.mkdtemp(prefix="netrx-transfer-bench-"))
    low = ds.y < 5
    low_test, high_test = ds.y_test < 5, ds.y_test >= 5
    np.savez(work / "digits0-4.npz", X=ds.X[low], y=ds.y[low], X_test=ds.X_test[low_test],
             y_test=ds.y_test[low_test])
    source_cfg = _config(work / "digits0-4.npz", work, "source", args, args.pretrain_epochs)
    source_cfg.members = 1
    source = run(source_cfg, progress=False)
    print(f"source: cnn1d ({args.channels} channels) pre-trained on digits 0–4 "
          f"({int(low.sum())} examples, {args.pretrain_epochs} epochs): test error "
          f"{100 * source.test['error']:.1f}%  [{time.perf_counter() - t0:.0f}s]\n")

    n_layers = len(layer_groups(source.population.template))
    columns = ["scratch", *PLANS]
    rows = []
    for n in args.sizes:
        pool = [rng.choice(np.flatnonzero(ds.y == c), n + max(1, n // 4), replace=False)
                for c in range(5, 10)]
        idx = np.sort(np.concatenate(pool))
        path = work / f"digits5-9-{n}.npz"
        np.savez(path, X=ds.X[idx], y=ds.y[idx], X_test=ds.X_test[high_test],
                 y_test=ds.y_test[high_test])
        base = _config(path, work, f"scratch-{n}", args, 1)
        prepared = prepare(base)
        n_train = len(prepared.splits.train.y)
        epochs = _epochs(n_train, args.updates, args.batch_size)
        base.train.epochs = epochs
        cells = {"scratch": run(base, prepared=prepared, progress=False, write=False)}
        chosen = {}
        for column, (per_class, similarity) in PLANS.items():
            plan = strategy(per_class * 5, similarity, n_layers=n_layers, n_classes=5)
            cfg = _config(path, work, f"{column}-{n}", args, epochs,
                          init_from=str(source.run_dir))
            cfg = resolve(cfg, prepared, plan=plan)
            chosen[column] = cfg.transfer
            cells[column] = run(cfg, prepared=prepared, progress=False, write=False)
        auto = [strategy(n_train, sim, n_layers=n_layers, n_classes=5).cell
                for sim in ("similar", "different")]
        errors = {c: _test_errors(r) for c, r in cells.items()}
        rows.append((n, n_train, epochs, errors, chosen, auto))
        print(f"n={n}: done [{time.perf_counter() - t0:.0f}s]")

    print("\ntest error on digits 5–9 (%), mean ± std over "
          f"{args.members} members; {args.updates} Adam updates (lr {args.lr:g}, batch "
          f"{args.batch_size}) per condition\n")
    head = ["examples / class", *columns, "`--transfer auto` picks (similar / different)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for n, _, _, errors, _, auto in rows:
        best = min(columns, key=lambda c: errors[c].mean())
        cells = []
        for c in columns:
            text = f"{errors[c].mean():.1f} ± {errors[c].std():.1f}"
            cells.append(f"**{text}**" if c == best else text)
        picks = [next(c for c, (per_class, sim) in PLANS.items()
                      if strategy(per_class * 5, sim, n_layers=n_layers, n_classes=5).cell
                      == cell) for cell in auto]
        print(f"| {n} | " + " | ".join(cells) + f" | {' / '.join(picks)} |")
    print()
    for column, (per_class, similarity) in PLANS.items():
        plan = strategy(per_class * 5, similarity, n_layers=n_layers, n_classes=5)
        stages = [r[4][column].stage for r in rows]
        note = f"; stage chosen on dev per row: {stages}" if plan.stages else ""
        print(f"- {column}: {plan.describe()}{note}")
    print(f"\n{n_layers} layers (3 conv + output); total {time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
