"""Storage URLs from a user's worst day: a password with a raw '@' or ':' never shows,
a MySQL URL gets MySQL's driver hint, and a diverged trial's reason reads plainly."""

import pytest

from netrx.errors import ConfigError
from netrx.tune.storage import mask_url, open_storage

SECRET = "p@ss:w0rd"


@pytest.mark.parametrize("url", [f"postgresql://bob:{SECRET}@db.example/netrx",
                                 f"postgresql://bob:{SECRET}@db.example:5432/netrx",
                                 "postgresql://bob:pw@db.example:port/netrx"])
def test_a_malformed_url_is_refused_without_any_part_of_the_password(url):
    with pytest.raises(ConfigError) as e:
        open_storage(url)
    message = str(e.value)
    assert "percent-encode" in message
    for fragment in ("p@ss", "ss:w0rd", "w0rd", ":pw@"):
        assert fragment not in message
    assert "w0rd" not in mask_url(url) and "p@ss" not in mask_url(url)


def test_a_mysql_url_suggests_the_mysql_driver():
    with pytest.raises(ConfigError, match="pymysql") as e:
        open_storage("mysql://u:secretpw@127.0.0.1/db")
    assert "psycopg2" not in str(e.value) and "secretpw" not in str(e.value)


def test_a_diverged_trial_reads_plainly(tmp_path):
    from netrx.tune import tune

    data = {"data": {"dataset": "iris"}, "model": {"hidden": [4]}, "train": {"epochs": 2},
            "optimizer": {"name": "sgd", "lr": 1e30},
            "search": {"space": {"optimizer.lr": "choice(1e30, 1e35)"}, "trials": 2,
                       "slots": 2}}
    result = tune(data, out=str(tmp_path), name="d", device="cpu",
                  storage=f"sqlite:///{tmp_path / 'd.db'}")
    reasons = [t.user_attrs.get("netrx:reason", "") for t in result.study.trials]
    diverged = [r for r in reasons if r.startswith("diverged")]
    assert diverged and all("dev dev_error" not in r for r in diverged)
    assert all("the dev error became" in r or "loss" in r for r in diverged)
