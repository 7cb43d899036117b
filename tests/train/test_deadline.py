import numpy as np
import pytest

import netrx
from netrx.errors import ConfigError
from netrx.nn import mlp
from netrx.train.deadline import Budget, Deadline, parse_duration


@pytest.mark.parametrize("text, expected", [("15m", 900), ("90s", 90), ("1h30m", 5400),
                                           (12, 12), ("2.5m", 150)])
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["fast", "-3", "0", "10 parsecs"])
def test_bad_durations(text):
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_expired_deadline_stops_after_one_step():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    budget = Budget(1e-9)
    deadline = Deadline(budget)
    h = netrx.fit(mlp(4, [4], 2), (X, y), epochs=50, batch_size=16, callbacks=[deadline],
                  progress=False)
    assert deadline.hit
    assert len(h.logs) == 1 and h.population.members == 1
