"""Regularization on MNIST-1D: does each regularizer shrink the train/dev gap?

An over-parameterised MLP 40-512-512-10 (Adam, α = 1e-3, mini-batches of 128) is
trained on MNIST-1D's 3200 training signals (800 dev, 1000 test, standardised on
train) with: nothing, L2, L1 (proximal), dropout, DropConnect, batch norm,
augmentation, early stopping, and all of them together. Techniques that share an
architecture are members of one population (every member starts from the same
initial weights and sees the same mini-batches, so only the regularizer differs);
batch norm, early stopping and "all" get populations of their own. ``--seeds S``
repeats every technique with S seeds (0..S−1) and reports mean ± sd.

Printed per technique: eval-mode train error, dev error, the gap (dev − train),
test error (looked at here only to check that early stopping's dev error,
selected on dev, is not an illusion), epochs trained and the fraction of weights
that are exactly 0.

    python bench/regularization.py                 # the table in docs/readme/regularization.md
    python bench/regularization.py --epochs 10     # a quick look
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import numpy as np
import torch

import netrx
from netrx.config import parse_config
from netrx.data.augment import SignalAugment
from netrx.experiment import prepare
from netrx.nn import DropConnect, Dropout, mlp
from netrx.optim import adam
from netrx.population.population import Population
from netrx.regularize.constraints import ProximalL1
from netrx.regularize.penalties import l2_penalty
from netrx.train import EarlyStopping, evaluate


@dataclass
class Technique:
    """One row of the table: the strengths it turns on (0 / absent = off)."""

    name: str
    setting: str
    l2: float = 0.0
    l1: float = 0.0
    dropout: float = 0.0
    dropconnect: float = 0.0
    augment: dict[str, float] = field(default_factory=dict)


def _techniques(a: argparse.Namespace) -> dict[str, Technique]:
    aug = {"shift": a.shift, "scale": a.scale, "noise": a.noise, "stretch": a.stretch}
    aug_text = f"shift ±{a.shift}, scale ±{a.scale}, noise σ={a.noise}, stretch ±{a.stretch}"
    return {
        "none": Technique("none", "—"),
        "l2": Technique("L2", f"λ={a.l2} (λ/2m‖W‖²_F)", l2=a.l2),
        "l1": Technique("L1 (proximal)", f"λ={a.l1} (λ/m‖W‖₁)", l1=a.l1),
        "dropout": Technique("dropout", f"rate {a.dropout} (keep_prob {1 - a.dropout:g})",
                             dropout=a.dropout),
        "dropconnect": Technique("DropConnect", f"rate {a.dropconnect}",
                                 dropconnect=a.dropconnect),
        "augment": Technique("augmentation", aug_text, augment=aug),
    }


def _column(values: list[float], pop: Population) -> torch.Tensor:
    return torch.tensor(values, dtype=pop.dtype, device=pop.device)


def _train(members: list[Technique], seeds: list[int], data, args, *, batch_norm: bool = False,
           early_stopping: bool = False) -> list[dict]:
    """Train one population: every technique × every seed is a member."""
    rows = [(t, s) for t in members for s in seeds]
    K = len(rows)
    dropout = max(t.dropout for t in members)
    dropconnect = max(t.dropconnect for t in members)
    model = mlp(40, [512, 512], 10, dropout=dropout, dropconnect=dropconnect,
                batch_norm=batch_norm)
    pop = Population(model, K, seed=[s for _, s in rows], device=args.device)
    if dropout:
        pop.set_buffer(lambda m: type(m) is Dropout, "p", [t.dropout for t, _ in rows])
    if dropconnect:
        pop.set_buffer(lambda m: isinstance(m, DropConnect), "p", [t.dropconnect for t, _ in rows])
    train, dev, test = data
    m = len(train[1])
    kwargs: dict = {}
    callbacks: list = []
    if any(t.l2 for t, _ in rows):
        kwargs["penalty"] = l2_penalty(_column([t.l2 for t, _ in rows], pop), m)
    if any(t.l1 for t, _ in rows):
        callbacks.append(ProximalL1(_column([t.l1 for t, _ in rows], pop), m, args.lr))
    if any(t.augment for t, _ in rows):
        strengths = {k: _column([t.augment.get(k, 0.0) for t, _ in rows], pop)
                     for k in ("shift", "scale", "noise", "stretch")}
        kwargs["augment"] = SignalAugment(**strengths)
    if early_stopping:
        callbacks.append(EarlyStopping(args.patience, monitor="dev_error", restore_best=True))
    history = netrx.fit(pop, train, dev, optimizer=adam(args.lr), epochs=args.epochs,
                        batch_size=128, callbacks=callbacks, progress=False, **kwargs)
    errors = {}
    for name, (X, y) in (("train", train), ("dev", dev), ("test", test)):
        Xt = torch.as_tensor(X).to(pop.device, pop.dtype)
        yt = torch.as_tensor(y).to(pop.device)
        errors[name] = evaluate(pop, Xt, yt, history.objective)[1].double().cpu().numpy()
    weights = pop.flat[:, pop.weight_mask()[0].bool()]
    zeros = (weights == 0).double().mean(1).cpu().numpy()
    status = np.array([log.status for log in history.logs])  # [epochs, K]
    trained = (status == "training").sum(0)
    return [{"technique": t, "seed": s, "train": errors["train"][k], "dev": errors["dev"][k],
             "test": errors["test"][k], "epochs": int(trained[k]), "zeros": zeros[k]}
            for k, (t, s) in enumerate(rows)]


def _fmt(values: list[float], pct: bool = True) -> str:
    scale = 100 if pct else 1
    mean = np.mean(values) * scale
    if len(values) == 1:
        return f"{mean:.1f}" if pct else f"{mean:.0f}"
    return f"{mean:.1f} ± {np.std(values, ddof=1) * scale:.1f}" if pct else \
        f"{mean:.0f} ± {np.std(values, ddof=1) * scale:.0f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--l2", type=float, default=16.0)
    p.add_argument("--l1", type=float, default=300.0)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--dropconnect", type=float, default=0.3)
    p.add_argument("--shift", type=int, default=3)
    p.add_argument("--scale", type=float, default=0.1)
    p.add_argument("--noise", type=float, default=0.0)
    p.add_argument("--stretch", type=float, default=0.05)
    p.add_argument("--patience", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    prepared = prepare(parse_config({"data": {"dataset": "mnist1d"}, "seed": 0}))
    sp = prepared.splits
    data = ((sp.train.X, sp.train.y), (sp.dev.X, sp.dev.y), (sp.test.X, sp.test.y))
    seeds = list(range(args.seeds))
    tech = _techniques(args)
    rows = _train(list(tech.values()), seeds, data, args)
    rows += _train([Technique("batch norm", "momentum 0.1")], seeds, data, args,
                   batch_norm=True)
    rows += _train([Technique("early stopping", f"patience {args.patience}, restore best")],
                   seeds, data, args, early_stopping=True)
    everything = Technique(
        "all together", "batch norm + the above", l2=args.l2, l1=args.l1,
        dropout=args.dropout, dropconnect=args.dropconnect, augment=tech["augment"].augment)
    rows += _train([everything], seeds, data, args, batch_norm=True, early_stopping=True)
    seconds = time.perf_counter() - t0

    print(f"MNIST-1D, MLP 40-512-512-10, Adam α={args.lr}, batch 128, {args.epochs} epochs, "
          f"{args.seeds} seed(s); errors in %, eval mode")
    print()
    print("| technique | setting | train error | dev error | gap (dev − train) | test error "
          "| epochs | zero weights |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    order = list(dict.fromkeys(r["technique"].name for r in rows))
    for name in order:
        mine = [r for r in rows if r["technique"].name == name]
        t = mine[0]["technique"]
        col = {k: [r[k] for r in mine] for k in ("train", "dev", "test", "epochs", "zeros")}
        gap = [r["dev"] - r["train"] for r in mine]
        print(f"| {name} | {t.setting} | {_fmt(col['train'])} | {_fmt(col['dev'])} | "
              f"{_fmt(gap)} | {_fmt(col['test'])} | {_fmt(col['epochs'], pct=False)} | "
              f"{_fmt(col['zeros'])} % |")
    print()
    print(f"total time {seconds:.0f} s on {args.device} ({args.threads} threads)")


if __name__ == "__main__":
    main()
