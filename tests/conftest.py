import importlib.util
import os
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("NETRX_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache"))
# tiny test models run fastest on one thread (and the suite shares 2 cores)
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def load_tune_helper(name: str):
    """``tests/tune/<name>.py`` (a helper, not a test module: ``postgres_server``,
    ``simultaneous``), loaded once per process under one name, whichever test directory
    loads it first (the PostgreSQL server's state lives in it)."""
    key = f"netrx_tests_{name}"
    if key not in sys.modules:
        path = Path(__file__).resolve().parent / "tune" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(key, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


@pytest.fixture(scope="session")
def tune_helper():
    """:func:`load_tune_helper`, for tests in any directory."""
    return load_tune_helper


@pytest.fixture(scope="session")
def postgres_server():
    """The throwaway PostgreSQL server of tests/tune/postgres_server.py, one for the
    session: its database's URL (with a password, which trust authentication ignores, so
    that tests can check it is never printed) and ``createdb(url)``, which creates a fresh
    database on it and returns its URL (the test skips where the server refuses)."""
    server = load_tune_helper("postgres_server")
    url = server.acquire()

    def createdb(url: str) -> str:
        import psycopg2

        try:
            return server.create_database(url)
        except psycopg2.Error as e:  # a server of NETRX_TEST_POSTGRES_URL without CREATEDB
            pytest.skip(f"cannot create a database on the test server: {e}".splitlines()[0])

    try:
        yield url, createdb
    finally:
        server.release()
