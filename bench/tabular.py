"""Issue 13: ``netrx improve`` against good defaults on real tables that ship inside packages.

Tables (``bench/peers/tables.py``; read from the packages' own files, nothing downloaded):

==============  ==============  ===============================================  ==========
table           task            source                                           metric
==============  ==============  ===============================================  ==========
penguins        classification  palmerpenguins (text columns, missing values)    accuracy
cars            regression      vega_datasets' local cars (Name dropped; text,   R²
                                dates and missing values)
breast_cancer   classification  scikit-learn                                     accuracy
wine            classification  scikit-learn                                     accuracy
diabetes        regression      scikit-learn (raw, unscaled features)            R²
==============  ==============  ===============================================  ==========

Each table is split once, 80 / 20 with seed 0 (stratified for classification; another
split: ``--split-seed N``, whose results go to ``bench/results/tabular-split<N>`` unless
``--out`` says otherwise), into ``<out>/data/<table>/train.csv`` and ``test.csv``; every
method fits on train.csv alone and is scored once on test.csv:

- ``netrx``: ``netrx improve train.csv --target T --test 0 --budget B --device cpu --quiet``
  (plus ``--drop``, and ``--impute median`` where netrx asks for it because a feature has
  missing values), as a user who keeps the test set would run it: ``--test 0`` leaves every
  row of train.csv to train and judge (netrx carves its dev set, or its folds, out of it),
  as the peers' fits use all of train.csv (``--netrx-test 0.2``: netrx also holds out a test
  set of its own, as without the flag); then ``netrx predict RUN test.csv --out DIR``
  (DIR/predictions.csv), scored here. Its seconds are the wall clock of the ``netrx
  improve`` process (start-up included). Its runs go to a new folder
  ``runs/bench-tabular/<time>-<pid>`` (``--runs``).
- the peers, in their own environment ``bench/peers/.venv`` (created on the first run:
  ``pip install -c constraints.txt -r bench/peers/requirements.txt``, the CPU torch of
  constraints.txt; none of it is a netrx dependency), by ``bench/peers/run_peer.py``:
  ``sklearn-mlp`` (MLPClassifier / MLPRegressor defaults in a scaling pipeline),
  ``sklearn-search`` (budget-bounded RandomizedSearchCV over that MLP, at the same budget as
  netrx), ``hgb`` (HistGradientBoosting defaults) and ``realmlp`` (pytabkit's RealMLP-TD
  defaults on CPU). Their seconds are the fit's (search and refit included).

Every process gets ``--threads`` threads (OMP / MKL / OpenBLAS, torch, threadpoolctl; the
search runs that many jobs). ``--long TABLE`` also runs netrx and the search at
``--long-budget`` (10 minutes) on that table.

    python bench/tabular.py                             # 2-minute budgets, every table,
                                                        # cars at 10 minutes too (≈1 h)
    python bench/tabular.py --tables wine,penguins --methods netrx,hgb --threads 2
    python bench/tabular.py --quick --tables penguins,cars   # smoke run, 15-second budgets

Prints the machine's load (``uptime``) at start and end, netrx's git commit, one table
(score and seconds per method) and the issue's targets: netrx at least as good as both
scikit-learn MLPs on every table and as RealMLP-TD on most, and where gradient boosting wins.
Writes ``<out>/results.csv`` and ``results.md`` (``quick.*`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "bench" / "peers"
PEER_PYTHON = PEERS / ".venv" / "bin" / "python"
TABLES = ("penguins", "cars", "breast_cancer", "wine", "diabetes")
METHODS = {"netrx": "netrx improve", "sklearn-mlp": "sklearn MLP", "sklearn-search":
           "sklearn search", "hgb": "HistGB", "realmlp": "RealMLP-TD"}
QUICK_BUDGET = 15.0


@dataclass(frozen=True)
class Settings:
    budget: float
    long_budget: float
    long: str | None
    tables: tuple[str, ...]
    methods: tuple[str, ...]
    threads: int
    quick: bool
    out: Path
    runs: Path
    netrx_test: float = 0.0
    split_seed: int = 0


@dataclass
class Cell:
    table: str
    method: str
    budget: float
    score: float | None = None
    seconds: float | None = None
    detail: str = ""
    error: str = ""
    versions: dict = field(default_factory=dict)


# -- settings ---------------------------------------------------------------------------------
def _names(text: str, allowed: Sequence[str], what: str, ap: argparse.ArgumentParser):
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = sorted(set(names) - set(allowed))
    if unknown or not names:
        ap.error(f"unknown {what} {unknown or text!r}; choose from {', '.join(allowed)}")
    return names


def parse_args(argv: Sequence[str] | None) -> Settings:
    from netrx.train.deadline import parse_duration

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", default="2m", help="netrx's and the search's wall clock")
    ap.add_argument("--tables", default=",".join(TABLES), help="comma-separated subset")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="threads of every method (default: the CPU count)")
    ap.add_argument("--long", default=None,
                    help="table that netrx and the search also get --long-budget on "
                         "(default: cars, if among --tables; 'none': no long run)")
    ap.add_argument("--long-budget", default="10m")
    ap.add_argument("--netrx-test", type=float, default=0.0,
                    help="netrx improve's --test: the share of train.csv it holds out as a "
                         "test set of its own (0: none; the bench scores test.csv)")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: {QUICK_BUDGET:g}-second budgets (long: twice that), "
                         "RealMLP-TD cut to a few epochs")
    ap.add_argument("--split-seed", type=int, default=0,
                    help="seed of the train / test split of every table (default 0: the "
                         "split of the issue's figures)")
    ap.add_argument("--out", type=Path, default=None,
                    help="folder of the data, results.csv and results.md (default "
                         "bench/results/tabular, or tabular-split<N> with --split-seed N)")
    ap.add_argument("--runs", type=Path, default=None,
                    help="parent of netrx's run directories (default: a new folder "
                         "runs/bench-tabular/<time>-<pid>, so that benches run at once "
                         "never share a run)")
    args = ap.parse_args(argv)
    tables = _names(args.tables, TABLES, "table(s)", ap)
    long = args.long or ("cars" if "cars" in tables else "none")
    long = None if long.lower() == "none" else long
    if long is not None and long not in tables:
        ap.error(f"--long {long}: not among --tables ({', '.join(tables)}); or --long none")
    if args.threads < 1:
        ap.error("--threads must be ≥ 1")
    runs = args.runs or ROOT / "runs" / "bench-tabular" / \
        f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    budget = QUICK_BUDGET if args.quick else parse_duration(args.budget)
    long_budget = 2 * QUICK_BUDGET if args.quick else parse_duration(args.long_budget)
    out = args.out or ROOT / "bench" / "results" / (
        f"tabular-split{args.split_seed}" if args.split_seed else "tabular")
    return Settings(budget, long_budget, long, tables, _names(args.methods, METHODS,
                    "method(s)", ap), args.threads, args.quick, out, runs,
                    args.netrx_test, args.split_seed)


# -- the peers' environment and the data -------------------------------------------------------
def ensure_peer_env() -> None:
    """bench/peers/.venv with the peers' packages; torch held to constraints.txt's CPU build."""
    if PEER_PYTHON.exists():
        return
    print(f"creating the peers' environment {PEER_PYTHON.parents[1]} (once) ...", flush=True)
    subprocess.run(["python3", "-m", "venv", str(PEERS / ".venv")], check=True)
    subprocess.run([str(PEER_PYTHON), "-m", "pip", "install", "-qq",
                    "-c", str(ROOT / "constraints.txt"), "-r", str(PEERS / "requirements.txt")],
                   check=True)


def write_tables(s: Settings) -> dict[str, dict]:
    data = s.out / "data"
    subprocess.run([str(PEER_PYTHON), str(PEERS / "tables.py"), str(data),
                    "--tables", ",".join(s.tables), "--seed", str(s.split_seed)], check=True)
    return {t: json.loads((data / t / "table.json").read_text()) for t in s.tables}


def thread_env(threads: int) -> dict[str, str]:
    n = str(threads)
    return {**os.environ, "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n,
            "OPENBLAS_NUM_THREADS": n, "PYTHONWARNINGS": "ignore"}


# -- one method on one table ------------------------------------------------------------------
def run_netrx(cell: Cell, info: dict, s: Settings) -> None:
    netrx = str(Path(sys.executable).parent / "netrx")
    data = s.out / "data" / cell.table
    name = f"{cell.table}-{cell.budget:g}s"
    cmd = [netrx, "improve", str(data / "train.csv"), "--target", info["target"],
           "--budget", f"{cell.budget:g}s", "--name", name, "--out", str(s.runs),
           "--device", "cpu", "--seed", "0", "--overwrite", "--quiet",
           "--test", f"{s.netrx_test:g}"]
    if info["drop"]:
        cmd += ["--drop", ",".join(info["drop"])]
    if info["missing"]:  # netrx refuses missing values unless told how to fill them
        cmd += ["--impute", "median"]
    t0 = time.perf_counter()
    _call(cmd, s, timeout=2 * cell.budget + 600, log=f"{name}-improve")
    cell.seconds = time.perf_counter() - t0
    run_dir, predicted = s.runs / name, s.runs / f"{name}-test"
    _call([netrx, "predict", str(run_dir), str(data / "test.csv"), "--out", str(predicted),
           "--device", "cpu"], s, timeout=600, log=f"{name}-predict")
    cell.score = score_predictions(predicted / "predictions.csv", data / "test.csv", info)
    summary = json.loads((run_dir / "summary.json").read_text())
    done = summary.get("improve", {})
    cell.detail = (f"{summary.get('chosen')}; {done.get('rounds')} round(s), "
                   f"{done.get('seconds', 0):.0f} s used")
    cell.versions = summary.get("versions", {})


def score_predictions(predictions: Path, test: Path, info: dict) -> float:
    """Accuracy, or R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)², of netrx's predictions of test.csv."""
    import numpy as np
    import pandas as pd

    y = pd.read_csv(test)[info["target"]].to_numpy()
    pred = pd.read_csv(predictions)["prediction"].to_numpy()
    if info["task"] == "classification":
        return float(np.mean(pred.astype(str) == y.astype(str)))
    y, pred = y.astype(float), pred.astype(float)
    return float(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))


def run_peer(cell: Cell, s: Settings) -> None:
    cmd = [str(PEER_PYTHON), str(PEERS / "run_peer.py"), cell.method, cell.table,
           "--data", str(s.out / "data"), "--budget", f"{cell.budget:g}",
           "--threads", str(s.threads)] + (["--quick"] if s.quick else [])
    out = _call(cmd, s, timeout=3 * cell.budget + 3600,
                log=f"{cell.table}-{cell.budget:g}s-{cell.method}")
    result = json.loads(out.strip().splitlines()[-1])
    cell.score, cell.seconds = result["score"], result["seconds"]
    cell.detail, cell.versions = result["detail"], result["versions"]


def _call(cmd: list[str], s: Settings, timeout: float, log: str) -> str:
    """Run ``cmd``; its stdout. A failure writes the whole output to ``<out>/logs/<log>.log``
    and raises with the command, stderr's last lines and the log's path."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=thread_env(s.threads),
                          timeout=timeout, cwd=ROOT)
    if proc.returncode != 0:
        path = s.out / "logs" / f"{log}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"$ {' '.join(cmd)}\n\n--- stdout\n{proc.stdout}\n"
                        f"--- stderr\n{proc.stderr}")
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise RuntimeError(f"exit {proc.returncode}: {' '.join(cmd)}\n{tail}\n(all: {path})")
    return proc.stdout


def run_cell(cell: Cell, info: dict, s: Settings) -> Cell:
    print(f"== {cell.table} · {METHODS[cell.method]} · budget {cell.budget:g} s", flush=True)
    try:
        run_netrx(cell, info, s) if cell.method == "netrx" else run_peer(cell, s)
    except (RuntimeError, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as e:
        cell.error = str(e)
        print(f"   FAILED: {e}", flush=True)
        return cell
    print(f"   {info['metric']} {cell.score:.4f} in {cell.seconds:.0f} s ({cell.detail})",
          flush=True)
    return cell


def plan(s: Settings) -> list[Cell]:
    cells = [Cell(t, m, s.budget) for t in s.tables for m in s.methods]
    if s.long is not None:  # only the budgeted methods change with the budget
        cells += [Cell(s.long, m, s.long_budget) for m in ("netrx", "sklearn-search")
                  if m in s.methods]
    return cells


# -- the table and the targets ----------------------------------------------------------------
def rows(cells: list[Cell], s: Settings) -> list[tuple[str, float, dict[str, Cell]]]:
    """(table, budget, method → cell) in run order: every table at the budget, then --long."""
    out: dict[tuple[str, float], dict[str, Cell]] = {}
    for c in cells:
        out.setdefault((c.table, c.budget), {})[c.method] = c
    return [(t, b, by) for (t, b), by in out.items()]


def _shown(c: Cell | None) -> str:
    if c is None:
        return "·"
    return "FAILED" if c.error else f"{c.score:.4f} {c.seconds:5.0f}s"


def table_lines(cells: list[Cell], manifest: dict, s: Settings, md: bool = False) -> list[str]:
    methods = [m for m in METHODS if m in s.methods]
    head = ["table", "task", "metric", "budget", *(METHODS[m] for m in methods)]
    body = [[t, manifest[t]["task"], manifest[t]["metric"], f"{b:g}s",
             *(_shown(by.get(m)) for m in methods)] for t, b, by in rows(cells, s)]
    if md:
        return [f"| {' | '.join(head)} |", f"|{'---|' * len(head)}",
                *(f"| {' | '.join(r)} |" for r in body)]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    fmt = "  ".join(f"{{:{'<' if i < 4 else '>'}{w}}}" for i, w in enumerate(widths))
    return [fmt.format(*head), "-" * (sum(widths) + 2 * len(widths) - 2),
            *(fmt.format(*r) for r in body)]


def target_lines(cells: list[Cell], s: Settings) -> list[str]:
    """The issue's targets on the rows at --budget (ties count as at least as good)."""
    base = [(t, by) for t, b, by in rows(cells, s) if b == s.budget]
    lines = []
    for peer, need in (("sklearn-mlp", "every table"), ("sklearn-search", "every table"),
                       ("realmlp", "most tables")):
        pairs = _pairs(base, peer)
        if not pairs:
            lines.append(f"target: netrx ≥ {METHODS[peer]} on {need}: NOT MEASURED")
            continue
        lost = [f"{t} ({d:+.4f})" for t, d in pairs if d < 0]
        won = len(pairs) - len(lost)
        met = not lost if need == "every table" else won > len(pairs) / 2
        lines.append(f"target: netrx ≥ {METHODS[peer]} on {need}: "
                     f"{'MET' if met else 'NOT MET'} ({won} of {len(pairs)}"
                     + (f"; behind on {', '.join(lost)})" if lost else ")"))
    hgb = _pairs(base, "hgb")
    ahead = [f"{t} by {-d:.4f}" for t, d in hgb if d < 0]
    lines.append("gradient boosting (HistGB defaults) beats netrx on: "
                 + (", ".join(ahead) if ahead else "no table") + f" (of {len(hgb)})")
    return lines


def _pairs(base: list[tuple[str, dict[str, Cell]]], peer: str) -> list[tuple[str, float]]:
    """(table, netrx's score − peer's) where both finished."""
    out = []
    for t, by in base:
        a, b = by.get("netrx"), by.get(peer)
        if a and b and not a.error and not b.error:
            out.append((t, a.score - b.score))
    return out


# -- output -----------------------------------------------------------------------------------
def write_results(cells: list[Cell], manifest: dict, s: Settings, header: list[str]) -> Path:
    stem = "quick" if s.quick else "results"
    with open(s.out / f"{stem}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["table", "task", "metric", "method", "budget_s",
                                          "score", "seconds", "threads", "detail", "error"])
        w.writeheader()
        for c in cells:
            w.writerow({"table": c.table, "task": manifest[c.table]["task"],
                        "metric": manifest[c.table]["metric"], "method": c.method,
                        "budget_s": c.budget, "score": c.score, "seconds": c.seconds,
                        "threads": s.threads, "detail": c.detail, "error": c.error})
    md = s.out / f"{stem}.md"
    details = [f"- {c.table} · {METHODS[c.method]} · {c.budget:g}s: "
               + (f"FAILED: `{c.error.splitlines()[0]}`" if c.error else c.detail)
               for c in cells]
    md.write_text("\n".join(["# bench/tabular.py", "", *(f"{h}  " for h in header), "",
                             *table_lines(cells, manifest, s, md=True), "",
                             *(f"- {t}" for t in target_lines(cells, s)), "", *details, ""]))
    return md


def machine_lines(s: Settings) -> list[str]:
    import torch

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=ROOT).stdout.strip() or "unknown"
    return [f"netrx commit {commit}; torch {torch.__version__}; {os.cpu_count()} CPUs; "
            f"{s.threads} thread(s) per method; budget {s.budget:g} s"
            + (f", {s.long} also {s.long_budget:g} s" if s.long else "")
            + (" (--quick)" if s.quick else "")
            + f"; netrx improve --test {s.netrx_test:g}; split seed {s.split_seed}"]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main(argv: Sequence[str] | None = None) -> int:
    s = parse_args(argv)
    start_load = uptime()
    print(f"load at start: {start_load}", flush=True)
    header = machine_lines(s)
    print(header[0], flush=True)
    ensure_peer_env()
    s.out.mkdir(parents=True, exist_ok=True)
    manifest = write_tables(s)
    cells: list[Cell] = []
    for cell in plan(s):
        cells.append(run_cell(cell, manifest[cell.table], s))
        write_results(cells, manifest, s, header)  # an interrupted bench keeps what it ran
    peer = next((c.versions for c in cells if c.method != "netrx" and c.versions), {})
    header += [f"peers: {', '.join(f'{k} {v}' for k, v in peer.items())}" if peer else "",
               f"load at start: {start_load}", f"load at end: {uptime()}"]
    md = write_results(cells, manifest, s, [h for h in header if h])
    print()
    for line in [*(h for h in header if h), "", *table_lines(cells, manifest, s), "",
                 *target_lines(cells, s)]:
        print(line)
    for c in cells:
        if c.error:
            print(f"\nFAILED {c.table} · {METHODS[c.method]}:\n{c.error}")
    print(f"\nwritten: {md} and {md.with_suffix('.csv')}")
    return 1 if any(c.error for c in cells) else 0


if __name__ == "__main__":
    sys.exit(main())
