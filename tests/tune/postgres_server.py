"""A throwaway PostgreSQL server for the tests, shared by every test directory.

``initdb`` into a temporary directory, ``pg_ctl start`` on 127.0.0.1 at a free port (trust
authentication, loopback only), one database ``netrx_test``; stopped when the last fixture
that acquired it releases it. ``NETRX_TEST_POSTGRES_URL`` points the tests at an existing
server instead. Without the PostgreSQL binaries (``make pg`` installs them) the tests skip.

Every user loads it by path under the one name :data:`MODULE` (``tests/tune/conftest.py``
and ``tests/reliability``'s modules, whichever comes first), so that one module object, and
one server, serves the whole test session; :func:`acquire` / :func:`release` count its users.
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

MODULE = "netrx_tests_postgres_server"
PASSWORD = "s3cret-pw"  # trust authentication ignores it; the tests check it is never printed


_state: dict = {"users": 0, "url": None, "stop": None, "skip": None}


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


def _start() -> tuple[str, object]:
    """Start a server; return its URL and a function that stops it (or skip)."""
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
            shutil.rmtree(root, ignore_errors=True)
            pytest.skip("running as root without runuser: cannot start PostgreSQL as postgres")
        as_postgres = [runuser, "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
        root.chmod(0o700)
    port = _free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*as_postgres, *cmd], check=True, capture_output=True, timeout=120)

    def stop() -> None:
        subprocess.run([*as_postgres, f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)

    try:
        run(f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-sync")
        run(f"{bindir}/pg_ctl", "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60",
            "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c max_connections=80", "start")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        shutil.rmtree(root, ignore_errors=True)
        out = getattr(e, "stderr", b"") or b""
        pytest.skip(f"could not start PostgreSQL: {e} {out.decode(errors='replace')[-300:]}")
    try:
        url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"
        create_database(url, "netrx_test")
    except Exception:
        stop()
        raise
    return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/netrx_test", stop


def acquire() -> str:
    """The server's URL (started on first use; skips the test when it cannot be)."""
    given = os.environ.get("NETRX_TEST_POSTGRES_URL")
    if given:
        return given
    if _state["skip"] is not None:
        pytest.skip(_state["skip"])
    if _state["url"] is None:
        try:
            _state["url"], _state["stop"] = _start()
        except pytest.skip.Exception as e:
            _state["skip"] = str(e)
            raise
    _state["users"] += 1
    return _state["url"]


def release() -> None:
    """Stop the server when its last user is done."""
    if os.environ.get("NETRX_TEST_POSTGRES_URL") or _state["url"] is None:
        return
    _state["users"] -= 1
    if _state["users"] <= 0:
        stop, _state["url"], _state["stop"] = _state["stop"], None, None
        stop()


def create_database(url: str, name: str | None = None) -> str:
    """Create the empty database ``name`` (default: a new unique name) on the server of
    ``url``; return ``url`` pointing at it (same user and password)."""
    import psycopg2
    from sqlalchemy.engine import make_url

    u = make_url(url)
    name = name or f"fresh_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(host=u.host, port=u.port, user=u.username, password=u.password,
                            dbname="postgres")
    try:
        conn.autocommit = True
        conn.cursor().execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return u.set(database=name).render_as_string(hide_password=False)
