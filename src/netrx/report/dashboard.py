"""optuna-dashboard over netrx's studies: find the storage, open it, serve it.

``STORAGE`` may be a tune run directory (its ``study.db``; for ``netrx improve`` the newest
round under ``tune/``), a SQLite file, a ``sqlite:///FILE`` URL or a
``postgresql://USER:PASSWORD@HOST/DB`` URL (workers on many machines). A SQLite file must
exist and hold an Optuna study: the dashboard never creates an empty one. The server
(:func:`serve`) is optuna-dashboard's WSGI app (:func:`optuna_dashboard.wsgi`) on a
threaded ``wsgiref`` server that logs nothing per request, bound to 127.0.0.1 unless told
otherwise. A database password is never part of a message (:func:`~netrx.tune.storage.mask_url`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netrx.errors import ConfigError

SQLITE_HEADER = b"SQLite format 3\x00"
INSTALL = "netrx dashboard needs optuna-dashboard: pip install 'netrx[dashboard]'"
_DB_SCHEMES = ("postgresql", "postgres", "mysql")


@dataclass
class Opened:
    """An opened storage: its URL (with its password: never print it), the storage and
    the studies it holds as (name, number of trials)."""

    url: str
    storage: Any
    studies: list[tuple[str, int]]

    @property
    def shown(self) -> str:
        """The URL with its password masked, for messages."""
        from netrx.tune.storage import mask_url

        return mask_url(self.url)


def require_dashboard() -> None:
    """Raise the one-line install hint when optuna-dashboard is missing."""
    import importlib.util

    if importlib.util.find_spec("optuna_dashboard") is None:
        raise ConfigError(INSTALL)


def _scheme(text: str) -> str:
    return text.split("://", 1)[0].split("+", 1)[0].lower() if "://" in text else ""


def _sqlite_file(path: Path) -> Path:
    if not path.exists():
        raise ConfigError(f"{path}: no such file; give a study.db, a tune run directory, "
                          "sqlite:///FILE or postgresql://USER:PASSWORD@HOST/DB")
    if not path.is_file():
        raise ConfigError(f"{path} is not a file")
    with path.open("rb") as f:
        if f.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise ConfigError(f"{path} is not a SQLite file (an Optuna study.db)")
    return path.resolve()


def _study_dir_db(d: Path) -> Path:
    """The study of a run directory: ``study.db`` (netrx tune), else the newest
    ``tune/*.db`` (the rounds of netrx improve)."""
    if (d / "study.db").is_file():
        return d / "study.db"
    rounds = sorted((d / "tune").glob("*.db"), key=lambda p: p.stat().st_mtime) \
        if (d / "tune").is_dir() else []
    if rounds:
        return rounds[-1]
    summary = d / "tune.json"
    if summary.is_file():  # a study kept in a database server: its URL has no password here
        import json

        stored = str(json.loads(summary.read_text()).get("storage") or "")
        if _scheme(stored) in _DB_SCHEMES:
            raise ConfigError(f"the study of {d} lives in {stored}: give that URL with its "
                              "password, e.g. netrx dashboard 'postgresql://USER:PASSWORD@HOST/DB'")
    raise ConfigError(f"{d} has no study.db: not a netrx tune run directory; give a study.db, "
                      "sqlite:///FILE or postgresql://USER:PASSWORD@HOST/DB")


def find_default(root: str | os.PathLike = "runs") -> Path:
    """The newest study under ``root`` (``runs/*/study.db``), for a bare ``netrx
    dashboard``."""
    found = sorted(Path(root).glob("*/study.db"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise ConfigError(f"no study found under {root}/: give a tune run directory, a "
                          "study.db, sqlite:///FILE or postgresql://USER:PASSWORD@HOST/DB")
    return found[-1]


def storage_url(storage: str | os.PathLike | None) -> str:
    """The database URL that ``storage`` (a run directory, a SQLite file, a URL, or None for
    the newest study under ``runs/``) names; a SQLite file must exist."""
    if storage is None:
        return f"sqlite:///{_sqlite_file(find_default())}"
    text = str(storage)
    scheme = _scheme(text)
    if scheme == "sqlite":
        path = text.split(":///", 1)[-1] if ":///" in text else ""
        if not path or path == ":memory:":
            raise ConfigError("give the SQLite file of a study: sqlite:///PATH/study.db")
        return f"sqlite:///{_sqlite_file(Path(path))}"
    if scheme in _DB_SCHEMES:
        return text
    if scheme:
        from netrx.tune.storage import mask_url

        raise ConfigError(f"storage {mask_url(text)!r}: give a tune run directory, a study.db, "
                          "sqlite:///FILE or postgresql://USER:PASSWORD@HOST/DB")
    path = Path(text).expanduser()
    if path.is_dir():
        path = _study_dir_db(path)
    return f"sqlite:///{_sqlite_file(path)}"


def _check_tables(path: Path) -> None:
    """A SQLite file without Optuna's ``studies`` table is not a study (checked read-only:
    Optuna would create its tables in it)."""
    import sqlite3
    from contextlib import closing

    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=60)) as c:
            tables = {row[0] for row in c.execute("SELECT name FROM sqlite_master")}
    except sqlite3.Error:
        return  # cannot tell here: Optuna's own error will say
    if "studies" not in tables:
        raise ConfigError(f"{path} holds no Optuna study (no 'studies' table)")


def open_dashboard_storage(storage: str | os.PathLike | None) -> Opened:
    """Open the storage ``storage`` names and list its studies (a SQLite file with none
    is an error: it is not a study)."""
    import optuna

    from netrx.tune.storage import mask_url, open_storage, quiet_optuna, scrub

    url = storage_url(storage)
    quiet_optuna()
    if _scheme(url) == "sqlite":  # read mostly: no BEGIN IMMEDIATE, no tables created
        _check_tables(Path(url.split(":///", 1)[1]))
        try:
            store = optuna.storages.RDBStorage(
                url, engine_kwargs={"connect_args": {"timeout": 60}},
                skip_compatibility_check=True, skip_table_creation=True)
        except Exception as e:
            raise ConfigError(f"cannot open {mask_url(url)}: {str(e).splitlines()[0]}") from None
    else:
        store = open_storage(url)
    try:
        studies = [(s.study_name, s.n_trials) for s in optuna.get_all_study_summaries(store)]
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"{mask_url(url)} holds no Optuna study: {scrub(first, url)}") from None
    if not studies and _scheme(url) == "sqlite":
        raise ConfigError(f"{mask_url(url)} holds no Optuna study")
    return Opened(url, store, studies)


def make_server(opened: Opened, host: str = "127.0.0.1", port: int = 8080) -> Any:
    """A threaded WSGI server of optuna-dashboard over ``opened``, bound (port 0: any
    free port; ``server.server_port`` says which), not yet serving."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
    from wsgiref.simple_server import make_server as wsgi_server

    require_dashboard()
    import optuna_dashboard

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:  # no line per request
            pass

    app = optuna_dashboard.wsgi(opened.storage)
    try:
        return wsgi_server(host, port, app, server_class=Server, handler_class=Quiet)
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}; "
                          "choose another --port (0: any free one)") from None


def serve(storage: str | os.PathLike | None, host: str = "127.0.0.1", port: int = 8080,
          ready: Callable[[str, Opened], None] | None = None) -> None:
    """Serve optuna-dashboard over ``storage`` until interrupted; ``ready(url, opened)`` is
    called once the server listens (``url`` is the page to open)."""
    require_dashboard()
    opened = open_dashboard_storage(storage)
    server = make_server(opened, host, port)
    shown_host = f"[{host}]" if ":" in host else host
    try:
        if ready is not None:
            ready(f"http://{shown_host}:{server.server_port}/dashboard/", opened)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
