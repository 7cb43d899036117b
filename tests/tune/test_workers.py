"""Several tune workers (`python -m netrx.tune.worker`) on one study, one of them killed
with SIGKILL mid-run, on SQLite and on a real PostgreSQL server (tests/tune/conftest.py
starts one)."""

import math
import os
import signal
import subprocess
import sys
import threading
import time

import optuna
import pytest
import yaml
from optuna.trial import TrialState
from typer.testing import CliRunner

from netrx.cli.app import app
from netrx.tune import tune
from netrx.tune.liveness import REASON, RETRY_OF, WORKER
from netrx.tune.source import OVER_BUDGET
from netrx.tune.storage import open_storage, open_study

TRIALS = 10


def _config(tmp_path):
    cfg = {"data": {"dataset": "iris"}, "model": {"hidden": [8]},
           "train": {"epochs": 150, "batch_size": 8},
           "search": {"space": {"optimizer.lr": "log_uniform(1e-3, 1e-1)",
                                "optimizer.b1": "uniform(0.5, 0.95)"},
                      "strategy": "random", "trials": TRIALS, "slots": 3, "pruner": "none",
                      "heartbeat": 0.5, "grace": 5}}
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _cmd(path, tmp_path, url, study, role="worker"):
    """A worker process (``python -m netrx.tune.worker``), or with ``role="main"`` the
    ``netrx tune`` command line, on one study."""
    args = [str(path), "--name", "r", "--out", str(tmp_path), "--storage", url, "--study",
            study]
    if role == "worker":
        return [sys.executable, "-m", "netrx.tune.worker", *args]
    return [sys.executable, "-m", "netrx.cli", "tune", *args, "--quiet"]


def _held_by(study, pid: int, other: bool = False) -> list:
    """The trials that the worker with process id ``pid`` holds RUNNING (``other``: the
    trials that any other worker has started, in any state)."""
    def mine(t) -> bool:
        return f"-{pid}-" in str(t.user_attrs.get(WORKER, ""))
    trials = study.get_trials(deepcopy=False)
    if other:
        return [t for t in trials if WORKER in t.user_attrs and not mine(t)]
    return [t for t in trials if t.state == TrialState.RUNNING and mine(t)]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_workers_share_a_study_and_survive_a_kill(backend, tmp_path, request, study_name):
    url = f"sqlite:///{tmp_path}/r/study.db" if backend == "sqlite" \
        else request.getfixturevalue("postgres_url")
    path = _config(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    a = subprocess.Popen(_cmd(path, tmp_path, url, study_name), env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    b: dict = {}
    worker_b = threading.Thread(target=lambda: b.update(result=tune(
        path, name="r", out=str(tmp_path), storage=url, study=study_name, write=False)))
    try:
        study = None
        for _ in range(6000):  # wait until worker a holds trials
            time.sleep(0.02)
            if a.poll() is not None:
                pytest.fail(f"worker a ended early: {a.stdout.read().decode()[-2000:]}")
            try:
                study = study or open_study(open_storage(url), study_name, url=url)
                held = _held_by(study, a.pid)
            except Exception:
                continue
            if held:
                break
        else:
            pytest.fail("worker a never started a trial")
        worker_b.start()  # worker b (this process) joins the study beside a ...
        for _ in range(3000):
            if _held_by(study, a.pid, other=True) or not worker_b.is_alive():
                break
            time.sleep(0.01)
        # ... and a dies mid-run, while it holds a RUNNING trial. The check is made on a
        # stopped process (SIGSTOP), so a cannot finish its trial between check and kill;
        # it reads through a storage without netrx's write lock on every transaction (a
        # stopped worker may hold that lock), which SQLite's WAL lets read beside a writer.
        observer = study if backend == "postgresql" else optuna.load_study(
            study_name=study_name, storage=optuna.storages.RDBStorage(url))
        for _ in range(3000):
            if a.poll() is not None:
                pytest.fail("worker a finished all its trials before it could be killed")
            os.kill(a.pid, signal.SIGSTOP)
            holds = bool(_held_by(observer, a.pid))
            if holds:
                break
            os.kill(a.pid, signal.SIGCONT)
            time.sleep(0.01)
        else:
            pytest.fail("worker a never held a RUNNING trial beside worker b")
        os.kill(a.pid, signal.SIGKILL)
        a.wait()
        worker_b.join(timeout=300)
    finally:
        if a.poll() is None:
            a.kill()
            a.wait()
    out_a = a.stdout.read().decode()
    assert "result" in b, "worker b did not finish"

    trials = study.get_trials()
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    lost = [t for t in trials if t.state == TrialState.FAIL and OVER_BUDGET not in t.user_attrs]
    assert lost and all(t.user_attrs[REASON].startswith("worker lost") for t in lost)
    retries = [t for t in trials if RETRY_OF in t.user_attrs]
    assert sorted(t.user_attrs[RETRY_OF] for t in retries) == sorted(t.number for t in lost)
    for r in retries:  # each lost trial exactly once more, with its own parameters
        assert r.state == TrialState.COMPLETE
        original = trials[r.user_attrs[RETRY_OF]]
        if original.params:  # (a worker killed between ask and suggest left none)
            assert r.params == original.params
    fresh = [t for t in trials if RETRY_OF not in t.user_attrs
             and OVER_BUDGET not in t.user_attrs]
    assert len(fresh) == TRIALS
    params = [tuple(sorted(t.params.items())) for t in fresh]
    assert len(set(params)) == TRIALS  # the two workers' samplers drew different points
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == TRIALS
    assert math.isclose(study.best_value, min(t.value for t in complete))

    # rerunning the same command finds nothing left to do and writes the outputs
    final = CliRunner().invoke(app, _cmd(path, tmp_path, url, study_name, role="main")[3:])
    assert final.exit_code == 0, final.output
    assert len(study.get_trials()) == len(trials)
    best = yaml.safe_load((tmp_path / "r" / "best.yaml").read_text())
    best_trial = min(complete, key=lambda t: (t.value, t.number))
    assert best["optimizer"]["lr"] == pytest.approx(best_trial.params["optimizer.lr"])
    if backend == "postgresql":
        assert "s3cret-pw" not in out_a + final.output
        assert "***" in final.output
