"""Start worker processes at the same moment (the reliability tests of several workers).

Each process imports everything first (torch, Optuna, SQLAlchemy, netrx), then waits at a
file barrier; the test opens the barrier once every process stands at it, so that they
all hit the storage within a millisecond or two, as workers started at once on several
machines (or by ``--workers N``) do. At each of ``opens`` barriers a process opens a
storage (one URL per barrier: a new store each time) and the study ``s`` in it, as a
worker does first; at the last barrier (with ``worker``) it runs ``python -m
netrx.tune.worker``'s :func:`main` with those arguments.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SCRIPT = r"""
import json, sys, time
from pathlib import Path
barrier, k, opens, worker = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]), sys.argv[4:]
import optuna, sqlalchemy, alembic.migration
from netrx.tune.storage import open_storage, open_study
if worker:
    import torch
    import netrx.tune.api, netrx.tune.search, netrx.experiment.prepared
    try:
        import sklearn.datasets  # what the built-in iris loads (seconds on a busy machine)
    except ImportError:
        pass
    from netrx.tune import worker as netrx_worker

def wait(tag):
    (barrier / f"ready.{tag}.{k}").touch()
    while not (barrier / f"go.{tag}").exists():
        time.sleep(0.0005)

results = []
for i, url in enumerate(opens):
    wait(i)
    try:
        open_study(open_storage(url), "s", url=url)
        results.append("ok")
    except Exception as e:
        results.append(f"{type(e).__name__}: {e}")
print("OPENS " + json.dumps(results), flush=True)
if worker:
    wait(len(opens))
    raise SystemExit(netrx_worker.main(worker))
"""


@dataclass
class Outcome:
    """One process: its exit status, what each open gave ("ok" or the error), stderr."""

    code: int
    opens: list[str]
    stderr: str


def start_together(tmp: Path, n: int, opens: list[str], worker: list[str] | None = None,
                   timeout: float = 300) -> list[Outcome]:
    """Run ``n`` processes that open each of ``opens`` at once, then (with ``worker``) run
    one worker each, started at once; wait for them."""
    barrier = tmp / f"barrier-{time.monotonic_ns()}"
    barrier.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = []
    for k in range(n):  # output to files: a full pipe would block a process
        with open(barrier / f"out.{k}", "w") as out, open(barrier / f"err.{k}", "w") as err:
            procs.append(subprocess.Popen([sys.executable, "-c", SCRIPT, str(barrier), str(k),
                                           json.dumps(opens), *(worker or [])],
                                          stdout=out, stderr=err, env=env))
    end = time.monotonic() + timeout
    try:
        for tag in range(len(opens) + (1 if worker else 0)):
            while time.monotonic() < end:  # every live process at the barrier: open it
                alive = [k for k, p in enumerate(procs) if p.poll() is None]
                if all((barrier / f"ready.{tag}.{k}").exists() for k in alive):
                    break
                time.sleep(0.002)
            (barrier / f"go.{tag}").touch()
        for p in procs:
            p.wait(timeout=max(1.0, end - time.monotonic()))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    result = []
    for k, p in enumerate(procs):
        out = (barrier / f"out.{k}").read_text(errors="replace")
        line = next((s for s in out.splitlines() if s.startswith("OPENS ")), "OPENS []")
        result.append(Outcome(p.returncode, json.loads(line[6:]),
                              (barrier / f"err.{k}").read_text(errors="replace")))
    return result


def tune_config(path: Path, trials: int) -> Path:
    """A tune config of quick trials (iris, 2 epochs, one slot per worker) at ``path``.

    The heartbeat is slow (600 s): a worker whose count of the study's trials is kept
    between reads for half a heartbeat then keeps it for the whole test, which makes a
    stale count show whatever the machine's speed (with the default 10 s it showed on
    quick trials, 200 of them, in some runs only).
    """
    import yaml

    cfg = {"data": {"dataset": "iris"}, "model": {"hidden": [8]},
           "train": {"epochs": 2, "batch_size": 32},
           "search": {"space": {"optimizer.lr": "log_uniform(1e-3, 1e-1)"},
                      "strategy": "random", "trials": trials, "slots": 1, "pruner": "none",
                      "heartbeat": 600, "grace": 1200}}
    path.write_text(yaml.safe_dump(cfg))
    return path


def problems(outcomes: list[Outcome], trials: list, n: int) -> list[str]:
    """What went wrong, all of it (an empty list when nothing did): an open that failed,
    a worker that did not exit 0, and a study of budget ``n`` that did not train exactly
    ``n`` trials: ``n`` COMPLETE, every other trial FAIL without an epoch trained (asked by
    a racing worker after the budget was spent, and told so), none RUNNING or WAITING."""
    from collections import Counter

    from optuna.trial import TrialState

    found = [f"process {k}, open {i}: {r}" for k, o in enumerate(outcomes)
             for i, r in enumerate(o.opens) if r != "ok"]
    found += [f"worker {k} exited {o.code}: "
              f"{(o.stderr.strip().splitlines() or [''])[-1]}"
              for k, o in enumerate(outcomes) if o.code != 0]
    states = Counter(t.state.name for t in trials)
    if states["COMPLETE"] != n:
        found.append(f"{states['COMPLETE']} trials COMPLETE for a budget of {n} "
                     f"({dict(states)})")
    for t in trials:
        if t.state == TrialState.COMPLETE:
            continue
        if t.state != TrialState.FAIL:
            found.append(f"trial {t.number} left {t.state.name}")
        elif t.intermediate_values or "netrx:curve" in t.user_attrs:
            found.append(f"trial {t.number} FAIL after training")
        elif "over budget" not in t.user_attrs.get("netrx:reason", ""):
            found.append(f"trial {t.number} FAIL: {t.user_attrs.get('netrx:reason')}")
    return found
