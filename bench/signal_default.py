"""The strong default of ``netrx improve``'s baseline on a signal (``netrx.recipe.defaults``:
the paper's cnn1d with AdamW, cosine, dropout, label smoothing and the ``auto``
augmentation) against its variants and the family's plain starting config, on MNIST-1D.

Every method trains a population of ``--members`` networks (seeds 0 … K − 1) for its
epochs on the training part of ``netrx``'s split of MNIST-1D (3,200 rows; dev 800, test
1,000), without early stopping. The choice of a default rests on the **dev** columns; the
test columns are printed beside them.

Methods:

- ``default``: the strong default, as ``netrx improve`` trains it;
- ``default+lr2e-3``, ``default+lr5e-3``, ``default+lr2e-2``: another α;
- ``default+noaug``: without augmentation; ``default+50ep``: 50 epochs (cosine over 50);
- a shortened run, as a round's trial or a clock-cut estimate trains it:
  ``default+20ep`` / ``default+79ep`` (the cosine over 20 / 79 epochs, what
  ``netrx.recipe.steps.with_epochs`` makes of it) against ``default+20ep-cut``,
  ``default+50ep-cut``, ``default+79ep-cut`` (the default's cosine over 100, stopped
  after 20 / 50 / 79 epochs) and ``default+79ep-cos200`` (a cosine over 200, as "train
  longer" makes it, stopped after 79);
- ``default+64ch``, ``default+128ch``: 64 or 128 filters instead of the paper's 25;
  ``default+64ch+150ep``: 64 filters for 150 epochs (cosine over 150), and
  ``default+64ch+150ep-cos300`` the same stopped halfway through a cosine over 300;
- ``plain``: the family's starting config (Adam α = 10⁻², constant, no dropout, no
  smoothing, no augmentation) for 100 epochs: what a sweep member at that rate trains.

    python bench/signal_default.py                         # every method, ≈ 20 min
    python bench/signal_default.py --methods default,plain
    python bench/signal_default.py --methods default+64ch+150ep --members 16 --every-row

Prints ``uptime`` at start and end and one table: the ensemble's and the mean member's
accuracy on dev and on test, and seconds.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from typing import Any

from tabular import uptime  # the table bench's reading of the machine's load

#: a variant: the config keys it changes in the strong default
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "default+lr2e-3": {"optimizer.lr": 2e-3},
    "default+lr5e-3": {"optimizer.lr": 5e-3},
    "default+lr2e-2": {"optimizer.lr": 2e-2},
    "default+noaug": {"augment.preset": "none"},
    "default+50ep": {"train.epochs": 50, "optimizer.schedule.total": 50},
    # a shortened run: the cosine over its own epochs, or the default's cut by the clock
    "default+20ep": {"train.epochs": 20, "optimizer.schedule.total": 20},
    "default+20ep-cut": {"train.epochs": 20},
    "default+50ep-cut": {"train.epochs": 50},
    "default+79ep": {"train.epochs": 79, "optimizer.schedule.total": 79},
    "default+79ep-cut": {"train.epochs": 79},
    "default+79ep-cos200": {"train.epochs": 79, "optimizer.schedule.total": 200},
    "default+64ch": {"model.channels": 64},
    "default+128ch": {"model.channels": 128},
    "default+64ch+150ep": {"model.channels": 64, "train.epochs": 150,
                           "optimizer.schedule.total": 150},
    "default+64ch+150ep-cos300": {"model.channels": 64, "train.epochs": 150,
                                  "optimizer.schedule.total": 300},
}
PLAIN = {"optimizer.name": "adam", "optimizer.lr": 1e-2, "train.epochs": 100}
METHODS = (*VARIANTS, "plain")


#: the family's starting config; every method trains on its split of MNIST-1D
START = {"name": "bench", "data": {"dataset": "mnist1d"}, "device": "cpu",
         "model": {"family": "cnn1d"}}


def config(method: str, members: int, n_train: int) -> Any:
    from netrx.config import merge, parse_config
    from netrx.recipe.defaults import strong_default

    start = parse_config(START)
    if method == "plain":
        data = merge(start.model_dump(mode="json"), PLAIN)
    else:
        cfg = strong_default(start, family="cnn1d", task="classification", n_train=n_train,
                             kind="signal")
        data = merge(cfg.model_dump(mode="json"), VARIANTS[method])
    data["members"] = members
    return parse_config(data)


def measure(method: str, members: int, prepared: Any, every_row: bool = False
            ) -> tuple[float | None, float | None, float, float, float]:
    """(dev ensemble, dev mean member, test ensemble, test mean member, seconds):
    accuracies on ``prepared`` (MNIST-1D as :data:`START` prepares it); with ``every_row``
    the members train on train ∪ dev (4,000 rows, as ``netrx improve``'s final refit does)
    and there is no dev (None)."""
    from netrx.experiment.assemble import train
    from netrx.experiment.evaluate import as_tensors, ensemble_split_error
    from netrx.recipe.refit import every_row as on_every_row
    from netrx.train import evaluate

    cfg = config(method, members, len(prepared.splits.train.y))
    if every_row:
        prepared = on_every_row(prepared)
    t0 = time.monotonic()
    pieces, _ = train(cfg, prepared)
    seconds = time.monotonic() - t0
    pop, every = pieces.population, list(range(members))

    def accuracies(part: Any) -> tuple[float, float]:  # (ensemble, mean member)
        ens = ensemble_split_error(pop, prepared, part, every)
        _, err = evaluate(pop, *as_tensors(part, pop, prepared), prepared.objective)
        return 1 - ens, 1 - float(err.double().mean())

    dev = prepared.splits.dev
    dev_e, dev_m = accuracies(dev) if len(dev.y) else (None, None)
    test_e, test_m = accuracies(prepared.splits.test)
    return dev_e, dev_m, test_e, test_m, seconds


def _cell(v: float | None) -> str:
    return "—" if v is None else f"{v:.4f}"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--members", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--every-row", action="store_true",
                    help="train on train ∪ dev (as improve's final refit does); no dev columns")
    args = ap.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    bad = sorted(set(methods) - set(METHODS))
    if bad:
        ap.error(f"unknown {bad}; methods: {', '.join(METHODS)}")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    print(f"load at start: {uptime()}", flush=True)
    lines = ["| method | dev: ensemble | dev: mean member | test: ensemble | "
             "test: mean member | seconds |", "|---|---|---|---|---|---|"]
    from netrx.config import parse_config
    from netrx.experiment import prepare

    prepared = prepare(parse_config(START))  # the data of every method, prepared once
    for method in methods:
        dev_e, dev_m, test_e, test_m, seconds = measure(method, args.members, prepared,
                                                        args.every_row)
        lines.append(f"| {method} | {_cell(dev_e)} | {_cell(dev_m)} | {test_e:.4f} | "
                     f"{test_m:.4f} | {seconds:.0f} |")
        print(lines[-1], flush=True)
    print(f"load at end: {uptime()}\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
