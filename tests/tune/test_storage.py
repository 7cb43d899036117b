"""Opening a study store: workers that create a new store at the same moment (issue 16)."""

import optuna
import pytest
import sqlalchemy.exc

from netrx.errors import ConfigError
from netrx.tune import storage


def _flaky(monkeypatch, errors):
    """RDBStorage raising ``errors`` in turn, then working; returns the calls made."""
    calls = []

    class Flaky(optuna.storages.RDBStorage):
        def __init__(self, url, **kwargs):
            calls.append(url)
            if len(calls) <= len(errors):
                raise errors[len(calls) - 1]
            super().__init__(url, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", Flaky)
    monkeypatch.setattr(storage.time, "sleep", lambda s: None)
    return calls


def test_a_store_created_by_another_worker_at_the_same_moment_is_opened(tmp_path,
                                                                       monkeypatch):
    lost = [sqlalchemy.exc.IntegrityError(
                "INSERT INTO alembic_version", {}, Exception(
                    "UNIQUE constraint failed: alembic_version.version_num")),
            sqlalchemy.exc.ProgrammingError(
                "CREATE TABLE studies", {}, Exception(
                    'duplicate key value violates unique constraint "pg_type_typname_nsp_index"'))]
    calls = _flaky(monkeypatch, lost)
    url = f"sqlite:///{tmp_path}/s.db"
    study = storage.open_study(storage.open_storage(url), "s", url=url)
    assert len(calls) == 3 and study.study_name == "s"


def test_any_other_error_is_reported_at_once(monkeypatch):
    calls = _flaky(monkeypatch, [sqlalchemy.exc.OperationalError(
        "connect", {}, Exception("connection refused"))])
    with pytest.raises(ConfigError) as e:
        storage.open_storage("sqlite:////nonexistent-dir-netrx/x.db")
    assert len(calls) == 1 and "connection refused" in str(e.value)


def test_lost_schema_races_are_told_from_other_errors():
    assert storage.schema_race(Exception("(sqlite3.OperationalError) table studies already "
                                         "exists"))
    try:
        try:
            raise ValueError("psycopg2.errors.UniqueViolation: duplicate key value")
        except ValueError as inner:
            raise RuntimeError("could not create the tables") from inner
    except RuntimeError as outer:
        assert storage.schema_race(outer)
    assert not storage.schema_race(Exception("connection refused"))
    assert not storage.schema_race(RuntimeError("The runtime optuna version 5 is no longer "
                                                "compatible with the table schema"))
