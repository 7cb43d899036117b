"""Seconds per trained model: a netrx population against one-at-a-time training.

Trains the MNIST-1D paper's MLP (40-100-100-10, ReLU, batch 128, Adam 1e-3, 20 epochs, the
4000 training examples standardised on train) K times, three ways:

- ``netrx``   : one ``netrx.fit(..., members=K)`` — the population engine, timed at the full K;
- ``plain``   : a plain PyTorch loop, one model after the other (``nn.Sequential`` of
  Linear/ReLU, ``torch.randperm`` shuffling, cross-entropy, ``torch.optim.Adam(foreach=True)``);
- ``sklearn`` : ``MLPClassifier`` one after the other (adam, alpha=0, all epochs run).

The two sequential ways cost the same per model whatever K is, so they are timed on
``min(K, --sequential-cap)`` models and their seconds per model stand for all K (the table
says how many were timed). It also measures this machine's float32 matmul rate
(1024x1024 @ 1024x1024, best of several) and counts the useful FLOPs of training:
6·W per example and epoch (forward 2·W, backward 4·W; W = 40·100 + 100·100 + 100·10 weights),
i.e. 6·B·W per member and full batch of B.

The same settings hold for every way: torch's intra-op threads (``--threads``, default torch's
own; scikit-learn's BLAS gets the same limit through threadpoolctl when given), and
flush-to-zero of denormal floats, which ``netrx.fit`` sets while it trains and which the plain
loop gets too (without it the plain loop slows down up to a hundredfold once its softmax
saturates, which would flatter netrx).

``--families mlp,cnn1d`` adds the paper's CNN (``netrx.nn.cnn1d``: three Conv1d of 25
filters, the same data, batch and optimizer), netrx against the plain loop on the same module;
its table is printed after the MLP's, with one more target: a population (K > 1) of a
convolutional family is never slower per model than training its members one after the other.

``--clock cpu`` times with the process's CPU time (``time.process_time``, every thread summed)
instead of the wall clock: on a machine shared with other work, CPU time does not count the
time spent waiting for a core; with ``--threads 1`` it is the single-core cost. The load
average is printed with the figures either way.

    python bench/population.py [--ks 1,8,32,64] [--epochs 20] [--threads N] [--repeats 3]
    python bench/population.py --ks 1,16,64 --families mlp,cnn1d --threads 1 --clock cpu
    python bench/population.py --quick        # a smoke run of a few seconds
    python bench/population.py --ks 1,16,64 --epochs 5 --repeats 1 --ways netrx --compile

``--compile`` adds a table of netrx's opt-in compiled step (``fit(compile=True)``,
``--compile`` on the CLI) against its eager step: the first epoch's seconds (the compiler's
time included; each fit compiles the step of its own population) and the steady-state
epoch seconds after it.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

HIDDEN = (100, 100)
N_CLASSES = 10
LR = 1e-3


@dataclass(frozen=True)
class Settings:
    ks: tuple[int, ...]
    epochs: int
    batch_size: int
    n_train: int | None  # None: all 4000 training examples
    sequential_cap: int
    repeats: int
    matmul_n: int
    threads: int | None
    ways: tuple[str, ...]
    families: tuple[str, ...] = ("mlp",)
    clock: str = "wall"
    compile: bool = False


def parse_args(argv: Sequence[str] | None) -> Settings:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default="1,8,32,64", help="population sizes, comma-separated")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch intra-op threads for every way (default: torch's default)")
    ap.add_argument("--sequential-cap", type=int, default=4,
                    help="time at most this many models of the one-at-a-time ways")
    ap.add_argument("--repeats", type=int, default=3,
                    help="time every measurement this many times and keep the median")
    ap.add_argument("--ways", default="netrx,plain,sklearn",
                    help="which ways to run, comma-separated (netrx, plain, sklearn)")
    ap.add_argument("--families", default="mlp",
                    help="model families, comma-separated: mlp (the paper's MLP, against "
                         "plain PyTorch and scikit-learn) and cnn1d (against plain PyTorch)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="time with the wall clock or with the process's CPU time")
    ap.add_argument("--compile", action="store_true",
                    help="also time netrx's opt-in compiled step (fit(compile=True)) against "
                         "the eager one: compile seconds and steady-state epoch seconds")
    ap.add_argument("--quick", action="store_true",
                    help="tiny settings for a smoke run: K 1,2, 1 epoch, 256 examples")
    args = ap.parse_args(argv)
    ks = tuple(int(k) for k in args.ks.split(",") if k.strip())
    ways = tuple(w.strip() for w in args.ways.split(",") if w.strip())
    unknown = sorted(set(ways) - {"netrx", "plain", "sklearn"})
    if unknown:
        ap.error(f"unknown way(s) {unknown}; choose from netrx, plain, sklearn")
    families = tuple(f.strip() for f in args.families.split(",") if f.strip())
    if not families or set(families) - set(FAMILIES):
        ap.error(f"--families: choose from {', '.join(FAMILIES)}")
    if not ks or min(ks) < 1 or args.epochs < 1 or args.sequential_cap < 1 or args.repeats < 1:
        ap.error("--ks, --epochs, --sequential-cap and --repeats must be positive")
    if args.quick:
        return Settings(ks=(1, 2), epochs=1, batch_size=args.batch_size, n_train=256,
                        sequential_cap=1, repeats=1, matmul_n=256, threads=args.threads,
                        ways=ways, families=families, clock=args.clock,
                        compile=args.compile)
    return Settings(ks=ks, epochs=args.epochs, batch_size=args.batch_size, n_train=None,
                    sequential_cap=args.sequential_cap, repeats=args.repeats, matmul_n=1024,
                    threads=args.threads, ways=ways, families=families, clock=args.clock,
                        compile=args.compile)


# -- what is measured -----------------------------------------------------------------------
def n_weights(n_in: int, hidden: Sequence[int] = HIDDEN, n_out: int = N_CLASSES) -> int:
    """W: the multiply-accumulates of one example's forward pass (bias adds not counted)."""
    widths = [n_in, *hidden, n_out]
    return sum(a * b for a, b in zip(widths[:-1], widths[1:]))


def useful_flops_per_model(n_examples: int, epochs: int, n_in: int) -> int:
    """6·W per example and epoch: forward 2·W, backward 4·W (input and weight gradients)."""
    return 6 * n_weights(n_in) * n_examples * epochs


def matmul_gflops(n: int = 1024, rounds: int = 7, calls: int = 5) -> float:
    """Best float32 GFLOP/s of an n×n @ n×n product (2·n³ FLOPs) over ``rounds`` rounds."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    best = math.inf
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            a @ b
        best = min(best, (time.perf_counter() - t0) / calls)
    return 2 * n**3 / best / 1e9


def load_data(n_train: int | None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-1D's training examples, standardised with statistics of train."""
    from netrx.data import Standardizer, load

    ds = load("mnist1d")
    X, y = ds.X, ds.y
    if n_train is not None:
        X, y = X[:n_train], y[:n_train]
    return Standardizer().fit_transform(X), np.asarray(y, dtype=np.int64)


# -- the three ways ----------------------------------------------------------------------------
#: the families the bench trains: the paper's MLP and its CNN
FAMILIES = ("mlp", "cnn1d")


def _cnn1d(n_in: int) -> nn.Module:
    """The MNIST-1D paper's CNN (netrx.nn.cnn1d: plain torch layers), for both ways."""
    import netrx.nn

    return netrx.nn.cnn1d(n_in, N_CLASSES)


def train_netrx(X: np.ndarray, y: np.ndarray, members: int, epochs: int, batch_size: int,
                device: str = "cpu", callbacks: Sequence = (), family: str = "mlp",
                compile: bool = False) -> Any:
    import netrx
    import netrx.nn
    import netrx.optim

    model = netrx.nn.mlp(X.shape[1], list(HIDDEN), N_CLASSES) if family == "mlp" \
        else _cnn1d(X.shape[1])
    return netrx.fit(model, (X, y), None,
                     optimizer=netrx.optim.adam(LR), epochs=epochs, batch_size=batch_size,
                     members=members, progress=False, device=device, callbacks=callbacks,
                     compile=compile)


def compiled_vs_eager(X: np.ndarray, y: np.ndarray, s: Settings, family: str,
                      out=print, device: str = "cpu") -> None:
    """``fit(compile=True)`` against the eager step at each K: the first epoch's seconds
    (the compiler's time included; every fit compiles its own population's step) and the
    median of the later epochs' seconds (the steady state); medians of ``s.repeats`` fits."""
    epochs = max(s.epochs, 3)
    out(f"compiled step vs eager ({family} on {device}, {epochs} epochs, median of "
        f"{s.repeats} fit(s) each; load average {load_average()})")
    out(f"{'K':>4}  {'eager epoch s':>13}  {'compiled epoch s':>16}  {'ratio':>6}  "
        f"{'compiled 1st epoch s':>20}")
    for k in s.ks:
        row = {}
        for compile in (False, True):
            firsts, steady = [], []
            for _ in range(s.repeats):
                h = train_netrx(X, y, k, epochs, s.batch_size, family=family,
                                compile=compile, device=device)
                secs = [log.seconds for log in h.logs]
                firsts.append(secs[0])
                steady.append(float(np.median(secs[1:])))
            row[compile] = (float(np.median(firsts)), float(np.median(steady)))
        out(f"{k:>4}  {row[False][1]:>13.3f}  {row[True][1]:>16.3f}  "
            f"{row[True][1] / row[False][1]:>6.2f}  {row[True][0]:>20.1f}")
    out(f"load average {load_average()} at the end")


def _plain_model(n_in: int, family: str = "mlp") -> nn.Module:
    if family != "mlp":
        return _cnn1d(n_in)
    widths = [n_in, *HIDDEN]
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(widths[-1], N_CLASSES))


def train_plain(X: np.ndarray, y: np.ndarray, models: int, epochs: int, batch_size: int,
                device: str = "cpu", family: str = "mlp") -> None:
    """``models`` plain PyTorch training runs, one after the other."""
    Xt, yt = torch.as_tensor(X, device=device), torch.as_tensor(y, device=device)
    n = Xt.shape[0]
    torch.set_flush_denormal(True)  # as netrx.fit does: the same footing for both
    try:
        for k in range(models):
            torch.manual_seed(k)
            model = _plain_model(Xt.shape[1], family).to(device)
            opt = torch.optim.Adam(model.parameters(), lr=LR, foreach=True)
            for _ in range(epochs):
                perm = torch.randperm(n, device=device)
                for i in range(0, n, batch_size):
                    idx = perm[i:i + batch_size]
                    loss = nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
    finally:
        torch.set_flush_denormal(False)  # this process's default


def train_sklearn(X: np.ndarray, y: np.ndarray, models: int, epochs: int, batch_size: int,
                  threads: int | None = None) -> None:
    """``models`` scikit-learn ``MLPClassifier`` fits, one after the other, every epoch run."""
    from contextlib import nullcontext

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    limit = nullcontext()
    if threads is not None:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(limits=threads)
    with limit, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for k in range(models):
            MLPClassifier(hidden_layer_sizes=HIDDEN, solver="adam", batch_size=batch_size,
                          learning_rate_init=LR, max_iter=epochs, alpha=0.0, shuffle=True,
                          tol=0.0, n_iter_no_change=epochs + 1, early_stopping=False,
                          random_state=k).fit(X, y)


# -- timing and the table -----------------------------------------------------------------------
def timed(fn: Callable[[], None], repeats: int, clock: str = "wall") -> float:
    """Median seconds of ``repeats`` calls: wall clock (``time.perf_counter``) or the
    process's CPU time (``time.process_time``)."""
    now = time.process_time if clock == "cpu" else time.perf_counter
    runs = []
    for _ in range(repeats):
        t0 = now()
        fn()
        runs.append(now() - t0)
    return statistics.median(runs)


def load_average() -> str:
    """The 1-minute load average, as this bench prints it next to its figures."""
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


@dataclass
class Row:
    way: str
    k: int
    timed_models: int
    seconds: float  # all timed models (wall clock or CPU time, as --clock says)
    flops_per_model: int
    family: str = "mlp"

    @property
    def per_model(self) -> float:
        return self.seconds / self.timed_models

    @property
    def gflops(self) -> float:
        return self.flops_per_model / self.per_model / 1e9


def measure(s: Settings, out=print) -> tuple[list[Row], float]:
    if s.threads is not None:
        torch.set_num_threads(s.threads)
    X, y = load_data(s.n_train)
    flops = useful_flops_per_model(X.shape[0], s.epochs, X.shape[1])
    rate = matmul_gflops(s.matmul_n)
    out(f"timed with the {'CPU time of this process' if s.clock == 'cpu' else 'wall clock'}; "
        f"load average {load_average()} at the start")
    out(f"MNIST-1D MLP {X.shape[1]}-{'-'.join(map(str, HIDDEN))}-{N_CLASSES}, "
        f"{X.shape[0]} training examples, batch {s.batch_size}, Adam {LR:g}, "
        f"{s.epochs} epoch(s); torch {torch.__version__}, {torch.get_num_threads()} "
        f"intra-op thread(s); float32 matmul ({s.matmul_n}x{s.matmul_n}) {rate:.1f} GFLOP/s")
    out(f"useful work: 6·W per example and epoch, W = {n_weights(X.shape[1])} -> "
        f"{flops / 1e9:.2f} GFLOP per trained model")
    out(f"plain and sklearn train models one after the other: timed on min(K, "
        f"{s.sequential_cap}) models, their seconds per model extrapolated to every K; "
        f"netrx is timed at the full K. Median of {s.repeats} timing(s) each.")

    rows: list[Row] = []
    for family in s.families:
        ways = s.ways if family == "mlp" else tuple(w for w in s.ways if w != "sklearn")
        warm = {"netrx": partial(train_netrx, X, y, 2, 1, s.batch_size, family=family),
                "plain": partial(train_plain, X, y, 1, 1, s.batch_size, family=family),
                "sklearn": partial(train_sklearn, X, y, 1, 1, s.batch_size, s.threads)}
        for way in ways:
            warm[way]()
        cache: dict[tuple[str, int], float] = {}
        for k in s.ks:
            if "netrx" in ways:
                train_netrx(X, y, k, 1, s.batch_size, family=family)  # warm-up at this K
                sec = timed(partial(train_netrx, X, y, k, s.epochs, s.batch_size,
                                    family=family), s.repeats, s.clock)
                rows.append(Row("netrx", k, k, sec, flops, family))
            for way, fn in (("plain", train_plain), ("sklearn", train_sklearn)):
                if way not in ways:
                    continue
                n = min(k, s.sequential_cap)
                if (way, n) not in cache:
                    extra = {"threads": s.threads} if way == "sklearn" else {"family": family}
                    cache[way, n] = timed(partial(fn, X, y, n, s.epochs, s.batch_size,
                                                  **extra), s.repeats, s.clock)
                rows.append(Row(way, k, n, cache[way, n], flops, family))
    return rows, rate


def speedups(rows: list[Row], k: int, family: str = "mlp") -> dict[str, float]:
    """Seconds per model of each other way divided by netrx's, at K = k."""
    by = {r.way: r for r in rows if r.k == k and r.family == family}
    if "netrx" not in by:
        return {}
    return {w: by[w].per_model / by["netrx"].per_model for w in by if w != "netrx"}


def table(rows: list[Row], rate: float) -> list[str]:
    lines = [f"{'way':<8} {'K':>4} {'timed':>5} {'s/model':>9} {'vs plain':>9} "
             f"{'vs sklearn':>10} {'GFLOP/s':>8} {'of matmul':>9}"]
    for r in rows:
        if r.family != "mlp":
            continue
        sp = speedups(rows, r.k) if r.way == "netrx" else {}
        vs_plain = f"{sp['plain']:.2f}x" if "plain" in sp else "-"
        vs_sk = f"{sp['sklearn']:.2f}x" if "sklearn" in sp else "-"
        lines.append(f"{r.way:<8} {r.k:>4} {r.timed_models:>5} {r.per_model:>9.4f} "
                     f"{vs_plain:>9} {vs_sk:>10} {r.gflops:>8.2f} {r.gflops / rate:>8.1%}")
    return lines


def targets(rows: list[Row], rate: float) -> list[str]:
    """The issue's targets, each MET / NOT MET / NOT MEASURED."""
    def verdict(ok: bool | None) -> str:
        return "NOT MEASURED" if ok is None else ("MET" if ok else "NOT MET")

    sp64, sp1 = speedups(rows, 64), speedups(rows, 1)
    net64 = next((r for r in rows if r.way == "netrx" and r.k == 64 and r.family == "mlp"),
                 None)
    checks = [
        ("netrx K=64 >= 6x faster per model than the plain loop",
         None if "plain" not in sp64 else sp64["plain"] >= 6, sp64.get("plain")),
        ("netrx K=64 >= 5x faster per model than scikit-learn",
         None if "sklearn" not in sp64 else sp64["sklearn"] >= 5, sp64.get("sklearn")),
        ("netrx K=64 uses >= 50% of the matmul rate",
         None if net64 is None else net64.gflops / rate >= 0.5,
         None if net64 is None else net64.gflops / rate),
        ("netrx K=1 no slower than 1.1x the plain loop",
         None if "plain" not in sp1 else 1 / sp1["plain"] <= 1.1,
         None if "plain" not in sp1 else 1 / sp1["plain"]),
    ]
    for family in sorted({r.family for r in rows} - {"mlp"}):
        sps = [speedups(rows, r.k, family).get("plain") for r in rows
               if r.family == family and r.way == "netrx" and r.k > 1]  # K = 1: one run
        sps = [x for x in sps if x is not None]
        worst = min(sps) if sps else None
        checks.append((f"{family} population >= 1x the plain loop per model at every K > 1",
                       None if worst is None else worst >= 1.0, worst))
    lines = []
    for text, ok, value in checks:
        shown = "" if value is None else (f" ({value:.1%})" if "matmul" in text
                                          else f" ({value:.2f}x)")
        lines.append(f"target: {text}: {verdict(ok)}{shown}")
    return lines


def family_table(rows: list[Row], family: str) -> list[str]:
    """Seconds per model of a family other than the MLP: netrx against the plain loop."""
    lines = [f"{'family':<7} {'way':<6} {'K':>4} {'timed':>5} {'s/model':>9} {'vs plain':>9}"]
    for r in rows:
        if r.family != family:
            continue
        sp = speedups(rows, r.k, family).get("plain") if r.way == "netrx" else None
        shown = f"{sp:.2f}x" if sp is not None else "-"
        lines.append(f"{family:<7} {r.way:<6} {r.k:>4} {r.timed_models:>5} {r.per_model:>9.4f} "
                     f"{shown:>9}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    s = parse_args(argv)
    rows, rate = measure(s)
    if "mlp" in s.families:
        print()
        for line in table(rows, rate):
            print(line)
    for family in s.families:
        if family != "mlp":
            print()
            for line in family_table(rows, family):
                print(line)
    print()
    for line in targets(rows, rate):
        print(line)
    print(f"load average {load_average()} at the end")
    if s.compile:
        X, y = load_data(s.n_train)
        for family in s.families:
            print()
            compiled_vs_eager(X, y, s, family)
    return 0


if __name__ == "__main__":
    sys.exit(main())
