"""Workers started at the same moment on a new SQLite study store (issue 16, items 1-2).

- Three processes open a new store at once, as each worker does first (four rounds, a
  new file each): each one gets the storage and the study. Before the fix, most rounds
  lost a process to 'table studies already exists' or 'UNIQUE constraint failed:
  alembic_version.version_num'.
- Then three workers (``python -m netrx.tune.worker``) started at once on one store (its
  tables made beforehand, so that all three live whatever the code) train exactly the
  trial budget. Before the fix a stale local count let each worker ask trials that the
  others had already used: 16 and 18 COMPLETE for a budget of 12.
- ``netrx tune --workers 2`` with a worker that fails exits non-zero and says which one
  and why (before the fix: exit status 0, the failure silent).

tests/reliability/test_postgres_workers.py does the same on a fresh PostgreSQL database.
"""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest
from typer.testing import CliRunner

from netrx.tune.storage import open_storage

TRIALS = 12


@pytest.mark.slow
def test_workers_started_at_once_on_a_new_sqlite_file_all_live_and_spend_the_budget_exactly(
        tmp_path, tune_helper):
    sim = tune_helper("simultaneous")
    opens = [f"sqlite:///{tmp_path}/open-{i}.db" for i in range(4)]
    url = f"sqlite:///{tmp_path}/study.db"
    open_storage(url)  # the tables only (the opens race for those): the workers all live
    config = sim.tune_config(tmp_path / "tune.yaml", TRIALS)
    worker = [str(config), "--storage", url, "--study", "s", "--name", "r", "--out",
              str(tmp_path)]
    outcomes = sim.start_together(tmp_path, 3, opens, worker)
    trials = optuna.load_study(study_name="s", storage=url).get_trials()
    found = sim.problems(outcomes, trials, TRIALS)
    assert not found, "\n".join(found)


_FAILING = ("import sys; sys.stderr.write('Traceback (most recent call last):\\n'"
            "'  File \"worker.py\", line 1\\nRuntimeError: the GPU fell off the bus\\n'); "
            "sys.exit(1)")


@pytest.mark.slow
def test_tune_workers_exits_nonzero_when_a_worker_fails(tmp_path, monkeypatch, tune_helper):
    """The second of two worker processes dies (a stand-in that fails as a crashing worker
    does); the first one finishes the study."""
    from netrx.cli.app import app
    from netrx.tune import api

    sim = tune_helper("simultaneous")
    config = sim.tune_config(tmp_path / "tune.yaml", 4)
    real_popen = subprocess.Popen
    started: list[list[str]] = []

    def popen(cmd, *args, **kwargs):
        started.append(cmd)
        if len(started) == 2:
            cmd = [sys.executable, "-c", _FAILING]
        return real_popen(cmd, *args, **kwargs)

    monkeypatch.setattr(api.subprocess, "Popen", popen)
    result = CliRunner().invoke(app, ["tune", str(config), "--workers", "2", "--quiet",
                                      "--name", "r", "--out", str(tmp_path)])
    assert len(started) == 2
    assert result.exit_code not in (0, None), result.output
    assert "worker 2 of 2" in result.output and "exit status 1" in result.output
    assert "the GPU fell off the bus" in result.output
    assert (tmp_path / "r" / "trials.csv").is_file()  # the other worker's work is written
