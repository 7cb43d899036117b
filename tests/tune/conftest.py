"""Fixtures of the tuning tests: small tune configs and a throwaway PostgreSQL server.

The server is a real one (tests/tune/postgres_server.py): ``initdb`` into a temporary
directory, ``pg_ctl start`` on 127.0.0.1 at a free port (trust authentication, loopback
only), one database, stopped at the end of the session. ``NETRX_TEST_POSTGRES_URL`` points
the tests at an existing server instead. Without the PostgreSQL binaries (``make pg``
installs them) those tests skip.
"""

from __future__ import annotations

import importlib.util
import sys
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


def load_helper(name: str):
    """``tests/tune/<name>.py`` (a helper, not a test module), loaded once per process under
    one name whichever directory's tests load it first (see postgres_server.py)."""
    key = f"netrx_tests_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL URL (with a password, which trust authentication ignores, so that the
    tests can check it is never printed); the server is shared with tests/reliability."""
    server = load_helper("postgres_server")
    url = server.acquire()
    try:
        yield url
    finally:
        server.release()


@pytest.fixture
def tiny():
    """``tiny(**search)``: :func:`small_config` with the search section updated."""
    return small_config


@pytest.fixture
def study_name() -> str:
    return f"s-{uuid.uuid4().hex[:8]}"
