"""Workers started at the same moment on a new PostgreSQL database (issue 16, items 1-2),
on a real server (tests/tune/postgres_server.py; skipped without the binaries).

``createdb`` then the same command on every machine at once: three processes open a fresh
database at once (several rounds, a new database each; before the fix two of three died
with ``UniqueViolation ... pg_type_typname_nsp_index`` or ``alembic_version_pkc``), then
three workers started at once on a fresh database train exactly the trial budget.
"""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from netrx.tune.storage import open_storage, open_study

TRIALS = 12


@pytest.mark.slow
def test_workers_started_at_once_on_a_fresh_postgres_database(postgres_server, tmp_path,
                                                              tune_helper):
    url, createdb = postgres_server
    sim = tune_helper("simultaneous")
    opens = [createdb(url) for _ in range(3)]
    fresh = createdb(url)
    config = sim.tune_config(tmp_path / "tune.yaml", TRIALS)
    worker = [str(config), "--storage", fresh, "--study", "s", "--name", "r", "--out",
              str(tmp_path)]
    outcomes = sim.start_together(tmp_path, 3, opens, worker)
    trials = open_study(open_storage(fresh), "s", url=fresh).get_trials()
    found = sim.problems(outcomes, trials, TRIALS)
    assert not found, "\n".join(found)
    password = make_url(fresh).password
    assert not (password and any(str(password) in o.stderr for o in outcomes))
