"""Where a study lives: one SQLite file per run, PostgreSQL for many machines, or memory.

- default: ``sqlite:///runs/<name>/study.db``. SQLite gets a busy timeout of 60 s,
  write-ahead logging, and ``BEGIN IMMEDIATE`` transactions, so that several local worker
  processes (``--workers N``) serialise their writes instead of failing, and a
  read-check-write such as "mark this RUNNING trial FAIL" is atomic (only one worker
  wins it).
- ``postgresql://user:password@host/db``: Optuna's RDB storage with connection health
  checks (``pool_pre_ping``), for ``netrx tune`` workers on different machines.
- ``memory``: in this process only (no resume), for quick experiments.

Workers started at the same moment on a new store (``--workers N``, or the same command on
every machine after ``createdb``) all try to create Optuna's tables: the losers of that
race (a unique violation, "table already exists") open the storage again, a few times
with a random pause, and then find the tables the winner made (:func:`_create_rdb`).

A database password never appears in a message: :func:`mask_url` replaces it by ``***``.
"""

from __future__ import annotations

import random
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netrx.errors import ConfigError

if TYPE_CHECKING:
    import optuna

SQLITE_TIMEOUT = 60  # seconds a SQLite writer waits for the lock
SCHEMA_TRIES = 10  # times a worker tries to open a store that others are creating at once


def quiet_optuna() -> None:
    """Optuna logs every trial at INFO and warns about experimental features; netrx
    prints its own table."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def mask_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    if "://" not in url:
        return url
    try:
        from sqlalchemy.engine import make_url

        if _ambiguous(url):  # make_url would split at the first '@' of the password
            raise ValueError(url)
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a database URL: mask anything between ':' and '@' anyway
        head, _, rest = url.partition("://")
        if "@" in rest:
            cred, _, host = rest.rpartition("@")
            user = cred.split(":", 1)[0]
            return f"{head}://{user}:***@{host}"
        return url


def _ambiguous(url: str) -> bool:
    """A URL whose credentials hold a raw '@' (a password not percent-encoded)."""
    netloc = url.split("://", 1)[-1].split("/", 1)[0]
    return netloc.count("@") > 1


def scrub(text: str, url: str | None) -> str:
    """Remove the password of ``url`` from an error message."""
    if not url:
        return text
    try:
        from sqlalchemy.engine import make_url

        password = make_url(url).password
    except Exception:
        password = None
    text = text.replace(url, mask_url(url))
    if password:
        text = text.replace(str(password), "***")
    return text


def default_url(run_dir: str | Path) -> str:
    """The SQLite URL of ``run_dir/study.db``."""
    return f"sqlite:///{(Path(run_dir) / 'study.db').resolve()}"


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url`` (``sqlite:///...``, ``postgresql://...``, ``memory``)."""
    import optuna

    quiet_optuna()
    if url == "memory":
        return optuna.storages.InMemoryStorage()
    scheme = url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""
    if scheme not in ("sqlite", "postgresql", "postgres", "mysql"):
        raise ConfigError(f"storage {mask_url(url)!r}: give sqlite:///FILE, "
                          "postgresql://USER:PASSWORD@HOST/DB or memory")
    if scheme != "sqlite":
        _check_parsable(url)
    if scheme in ("postgres", "postgresql"):
        url = _postgres_driver(url)
    if scheme == "sqlite":
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_TIMEOUT}}
    else:
        kwargs = {"pool_pre_ping": True, "pool_recycle": 300}
    try:
        storage = _create_rdb(url, kwargs)
    except ImportError:
        hint = ("pip install pymysql and write mysql+pymysql://…" if scheme == "mysql" else
                "pip install psycopg2-binary (netrx's postgres extra)")
        raise ConfigError(f"storage {mask_url(url)!r} needs a database driver: {hint}"
                          ) from None
    except Exception as e:  # connection refused, bad credentials, unknown database
        raise ConfigError(f"cannot open storage {mask_url(url)!r}: "
                          f"{scrub(str(e).splitlines()[0] if str(e) else type(e).__name__, url)}"
                          ) from None
    if scheme == "sqlite":
        _serialise_sqlite(storage)
    return storage


def _check_parsable(url: str) -> None:
    """Refuse a database URL SQLAlchemy would misread, without echoing its parts (a
    parse error can quote a fragment of the password)."""
    bad = _ambiguous(url)
    if not bad:
        try:
            from sqlalchemy.engine import make_url

            make_url(url).port  # noqa: B018 - a non-numeric port raises here
        except Exception:
            bad = True
    if bad:
        raise ConfigError(f"storage URL {mask_url(url)!r} cannot be parsed: percent-encode "
                          "'@', ':' and '/' in the user name or password (%40, %3A, %2F)")


# what a process sees when another one creates the same tables at the same moment
_SCHEMA_RACE = ("already exists", "duplicate key value", "unique constraint failed",
                "uniqueviolation", "duplicatetable", "duplicate entry", "integrityerror",
                "deadlock detected")


def schema_race(error: BaseException) -> bool:
    """Whether ``error`` (or an error it was raised from) is a lost race to create the
    tables of a new store: PostgreSQL's ``UniqueViolation`` on ``pg_type`` or
    ``alembic_version``, SQLite's ``table ... already exists`` or ``UNIQUE constraint
    failed: alembic_version.version_num``, MySQL's duplicate entry."""
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        text = f"{type(e).__name__}: {e}".lower()
        if any(marker in text for marker in _SCHEMA_RACE):
            return True
        e = e.__cause__ or e.__context__
    return False


def _create_rdb(url: str, kwargs: dict[str, Any]) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage of ``url``, which creates its tables when they are missing.
    Creating them is not safe against another process doing it at the same moment (Optuna
    checks, then creates): whoever loses that race tries again (up to
    :data:`SCHEMA_TRIES` times, after a random pause that grows) and then finds them."""
    import optuna

    for attempt in range(1, SCHEMA_TRIES + 1):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except ImportError:
            raise
        except Exception as e:
            if attempt == SCHEMA_TRIES or not schema_race(e):
                raise
        time.sleep(random.uniform(0.05, 0.25) * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _postgres_driver(url: str) -> str:
    """``postgresql://`` names no driver, and SQLAlchemy 2.1 then assumes psycopg 3; use
    whichever of psycopg2 (netrx's postgres extra) and psycopg is installed."""
    head, rest = url.split("://", 1)
    if "+" in head:
        return url
    import importlib.util

    for driver in ("psycopg2", "psycopg"):
        if importlib.util.find_spec(driver) is not None:
            return f"postgresql+{driver}://{rest}"
    raise ConfigError(f"storage {mask_url(url)!r} needs a database driver: pip install "
                      "psycopg2-binary (netrx's postgres extra)")


def _serialise_sqlite(storage: Any) -> None:
    """WAL journal, and every transaction ``BEGIN IMMEDIATE`` (SQLAlchemy's recipe for
    pysqlite): a transaction takes the write lock when it starts, so that Optuna's
    read-check-write updates cannot interleave between processes."""
    from sqlalchemy import event

    engine = storage.engine

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_TIMEOUT * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the listeners existed


def open_study(storage: Any, name: str, *, sampler: Any = None, pruner: Any = None,
               url: str = "") -> optuna.Study:
    """Create the study ``name`` or load it if it exists (minimising the dev error)."""
    import optuna

    try:
        return optuna.create_study(storage=storage, study_name=name, sampler=sampler,
                                   pruner=pruner, direction="minimize", load_if_exists=True)
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(f"cannot open study {name!r} in {mask_url(url)!r}: "
                          f"{scrub(str(e).splitlines()[0] if str(e) else type(e).__name__, url)}"
                          ) from None
