"""Fixtures of the tuning tests: small tune configs and a throwaway PostgreSQL server.

The server is a real one: ``initdb`` into a temporary directory, ``pg_ctl start`` on
127.0.0.1 at a free port (trust authentication, loopback only), one database, stopped at
the end of the session. ``NETRX_TEST_POSTGRES_URL`` points the tests at an existing server
instead. Without the PostgreSQL binaries (``make pg`` installs them) those tests skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest


def small_config(**search) -> dict:
    """Iris, a tiny MLP, a few epochs: a tune config that runs in a second or two."""
    base = {"data": {"dataset": "iris"}, "model": {"hidden": [8]},
            "train": {"epochs": 4, "batch_size": 16},
            "search": {"space": {"optimizer.lr": "log_uniform(1e-3, 1e-1)"},
                       "strategy": "random", "trials": 6, "slots": 3, "pruner": "none"}}
    base["search"].update(search)
    return base


def _pg_bin() -> str | None:
    found = shutil.which("pg_ctl")
    if found:
        return str(Path(found).resolve().parent)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return str(Path(candidates[-1]).parent) if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL URL (with a password, which trust authentication ignores, so that the
    tests can check it is never printed)."""
    given = os.environ.get("NETRX_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    pytest.importorskip("psycopg2", reason="psycopg2-binary is not installed (pip install "
                                           "'netrx[postgres]')")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (pg_ctl, initdb); `make pg` installs "
                    "the Debian package postgresql")
    root = Path(tempfile.mkdtemp(prefix="netrx-pg-"))
    data = root / "data"
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as postgres")
        as_postgres = [runuser, "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
        root.chmod(0o700)
    port = _free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*as_postgres, *cmd], check=True, capture_output=True, timeout=120)

    try:
        run(f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-sync")
        run(f"{bindir}/pg_ctl", "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60",
            "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c max_connections=50", "start")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        shutil.rmtree(root, ignore_errors=True)
        out = getattr(e, "stderr", b"") or b""
        pytest.skip(f"could not start PostgreSQL: {e} {out.decode(errors='replace')[-300:]}")
    try:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE netrx_test")
        conn.close()
        yield f"postgresql://postgres:s3cret-pw@127.0.0.1:{port}/netrx_test"
    finally:
        subprocess.run([*as_postgres, f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def tiny():
    """``tiny(**search)``: :func:`small_config` with the search section updated."""
    return small_config


@pytest.fixture
def study_name() -> str:
    return f"s-{uuid.uuid4().hex[:8]}"
