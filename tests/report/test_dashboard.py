"""``netrx dashboard``: optuna-dashboard started for real on a netrx study (SQLite and
PostgreSQL), asked over HTTP and loaded in headless Chromium; what STORAGE may be."""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from netrx.errors import ConfigError
from netrx.report.dashboard import INSTALL, open_dashboard_storage, storage_url

needs_dashboard = pytest.mark.skipif(importlib.util.find_spec("optuna_dashboard") is None,
                                     reason="pip install 'netrx[dashboard]'")

# the console's app, run in a process of its own (as `netrx dashboard` would be); SIGUSR1
# makes it print every thread's stack, for a child that does not stop
SCRIPT = ("import faulthandler, signal\nfaulthandler.register(signal.SIGUSR1, all_threads=True)\n"
          "from netrx.cli.app import app\napp()\n")


def _stuck(proc: subprocess.Popen, errors: list[str], err_pump: threading.Thread) -> str:
    """What a child that outlived its SIGINT was doing: its state and signal masks (from
    /proc), then the stacks of its threads (faulthandler, on SIGUSR1) on its stderr."""
    try:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        masks = " ".join(line for line in status.splitlines() if line.startswith(("State", "Sig")))
    except OSError:
        masks = "(no /proc entry)"
    proc.send_signal(signal.SIGUSR1)
    time.sleep(2)  # faulthandler writes the stacks
    proc.kill()
    proc.wait(timeout=30)
    err_pump.join(timeout=10)
    return f"the dashboard did not stop on SIGINT; {masks}\n{''.join(errors)[-6000:]}"


def _app() -> typer.Typer:
    from netrx.cli.app import app

    return app


@contextmanager
def running(storage: str, timeout: float = 120.0):
    """Start ``netrx dashboard STORAGE --port 0`` as a process; yield (the URL it printed,
    the lines it printed); stop it with Ctrl-C (SIGINT) and check that it exits 0.

    One thread reads each of its pipes to the end, so that neither fills up; stopping waits
    for the process itself, not for its pipes."""
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, "dashboard", storage, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    lines: queue.Queue = queue.Queue()
    errors: list[str] = []

    def pump_out() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def pump_err() -> None:
        for line in proc.stderr:
            errors.append(line)

    pumps = [threading.Thread(target=f, daemon=True) for f in (pump_out, pump_err)]
    for pump in pumps:
        pump.start()
    printed: list[str] = []
    url, deadline = None, time.monotonic() + timeout
    while url is None and time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        printed.append(line)
        found = re.search(r"dashboard: (http://\S+)", line)
        url = found.group(1) if found else None
    if url is None:
        proc.kill()
        proc.wait(timeout=30)
        pumps[1].join(timeout=10)
        pytest.fail(f"the dashboard did not start: {''.join(printed)} {''.join(errors)[-2000:]}")
    try:
        yield url, printed
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(_stuck(proc, errors, pumps[1]))
        for pump in pumps:
            pump.join(timeout=30)
        printed.extend(iter(lines.get_nowait, None))  # up to the end mark of pump_out
        err = "".join(errors)
        printed.append(err)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err, err[-2000:]


def get_json(url: str, tries: int = 60) -> dict:
    """GET ``url`` as JSON, waiting (up to ``tries`` half seconds) until it answers."""
    for attempt in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                return json.loads(r.read())
        except OSError:
            if attempt == tries - 1:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


@needs_dashboard
def test_dashboard_serves_the_study_and_renders_in_chromium(tiny_study, browser, blank,
                                                            save_screenshot, tmp_path):
    with running(str(tiny_study)) as (url, printed):
        assert url.startswith("http://127.0.0.1:")  # loopback unless --host says otherwise
        base = url.split("/dashboard", 1)[0]
        studies = get_json(f"{base}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in studies] == ["tiny"]
        study_id = studies[0]["study_id"]
        detail = get_json(f"{base}/api/studies/{study_id}")
        assert len(detail["trials"]) == 10
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
        shot = browser.shot(f"{url}studies/{study_id}", tmp_path / "dashboard.png")
        assert shot.stat().st_size > 10_000
        assert not blank(shot)
        save_screenshot(shot, "dashboard.png")
    assert "studies: tiny (10 trials)" in "".join(printed)


@needs_dashboard
def test_dashboard_opens_a_postgresql_study_and_never_prints_its_password(postgres_server):
    import optuna

    from netrx.tune.storage import mask_url, open_storage

    url, create_database = postgres_server
    fresh = create_database(url)
    study = optuna.create_study(storage=open_storage(fresh), study_name="pg-study")
    study.optimize(lambda t: (t.suggest_float("lr", 1e-4, 1e-1, log=True) - 1e-2) ** 2,
                   n_trials=3)
    password = __import__("sqlalchemy").engine.make_url(fresh).password
    with running(fresh) as (address, printed):
        base = address.split("/dashboard", 1)[0]
        studies = get_json(f"{base}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in studies] == ["pg-study"]
    text = "".join(printed)
    assert mask_url(fresh) in text and "***" in text
    assert password and password not in text


def test_storage_is_a_run_directory_a_file_or_a_url(tiny_study, tmp_path):
    db = (tiny_study / "study.db").resolve()
    assert storage_url(tiny_study) == f"sqlite:///{db}"
    assert storage_url(str(db)) == f"sqlite:///{db}"
    assert storage_url(f"sqlite:///{db}") == f"sqlite:///{db}"
    url = "postgresql://me:pw@db.example/studies"
    assert storage_url(url) == url  # opened (and its errors masked) by netrx.tune.storage
    opened = open_dashboard_storage(tiny_study)
    assert opened.studies == [("tiny", 10)]
    assert opened.shown == f"sqlite:///{db}"


@pytest.mark.parametrize("bad, says", [
    ("missing.db", "no such file"),
    ("not-sqlite.txt", "is not a SQLite file"),
    ("plain-dir", "has no study.db"),
    ("sqlite:///missing.db", "no such file"),
    ("redis://me:hunter2@host/0", "redis://me:***@host/0"),
])
def test_a_storage_that_is_not_a_study_is_a_one_line_error(tmp_path, monkeypatch, bad, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "not-sqlite.txt").write_text("hello")
    (tmp_path / "plain-dir").mkdir()
    with pytest.raises(ConfigError, match=re.escape(says)) as e:
        open_dashboard_storage(bad)
    assert "hunter2" not in str(e.value)


def test_an_empty_sqlite_file_is_not_created_into_a_study(tmp_path):
    import sqlite3

    sqlite3.connect(tmp_path / "empty.db").execute("create table t (x)").connection.close()
    with pytest.raises(ConfigError, match="holds no Optuna study"):
        open_dashboard_storage(tmp_path / "empty.db")


def test_a_study_on_a_database_server_asks_for_its_url(tmp_path):
    (tmp_path / "plots.json").write_text("{}")
    (tmp_path / "tune.json").write_text(json.dumps(
        {"storage": "postgresql://me:***@db.example/studies"}))
    with pytest.raises(ConfigError, match=r"lives in postgresql://me:\*\*\*@db.example/studies"):
        storage_url(tmp_path)


def test_without_optuna_dashboard_the_cli_says_how_to_install_it(monkeypatch, tiny_study):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "optuna_dashboard" else real(name, *a))
    result = CliRunner().invoke(_app(), ["dashboard", str(tiny_study)])
    assert result.exit_code == 2
    assert INSTALL == "netrx dashboard needs optuna-dashboard: pip install 'netrx[dashboard]'"
    assert f"error: {INSTALL}" in " ".join(result.output.split())


@needs_dashboard
def test_a_busy_port_is_a_one_line_error(tiny_study):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(_app(), ["dashboard", str(tiny_study), "--port", str(port)])
    assert result.exit_code == 2
    assert f"error: cannot listen on 127.0.0.1:{port}" in " ".join(result.output.split())
    assert Path(tiny_study / "study.db").is_file()
