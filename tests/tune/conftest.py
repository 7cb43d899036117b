"""Fixtures of the tuning tests: small tune configs and a throwaway PostgreSQL server.

The server is a real one (tests/tune/postgres_server.py): ``initdb`` into a temporary
directory, ``pg_ctl start`` on 127.0.0.1 at a free port (trust authentication, loopback
only), one database, stopped at the end of the session. ``NETRX_TEST_POSTGRES_URL`` points
the tests at an existing server instead. Without the PostgreSQL binaries (``make pg``
installs them) those tests skip.
"""

from __future__ import annotations

import uuid

import pytest


def small_config(**search) -> dict:
    """Iris, a tiny MLP, a few epochs: a tune config that runs in a second or two."""
    base = {"data": {"dataset": "iris"}, "model": {"hidden": [8]},
            "train": {"epochs": 4, "batch_size": 16},
            "search": {"space": {"optimizer.lr": "log_uniform(1e-3, 1e-1)"},
                       "strategy": "random", "trials": 6, "slots": 3, "pruner": "none"}}
    base["search"].update(search)
    return base


@pytest.fixture(scope="session")
def postgres_url(postgres_server):
    """The URL of the shared throwaway PostgreSQL server (tests/conftest.py)."""
    return postgres_server[0]


@pytest.fixture
def tiny():
    """``tiny(**search)``: :func:`small_config` with the search section updated."""
    return small_config


@pytest.fixture
def study_name() -> str:
    return f"s-{uuid.uuid4().hex[:8]}"
