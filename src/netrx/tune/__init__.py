"""Hyperparameter search on the population engine.

- :mod:`~netrx.tune.distributions`: distributions on the notes' scales (log α, 1 − β) →
  Optuna; :mod:`~netrx.tune.space`: a whole space of (conditional) keys.
- :mod:`~netrx.tune.settings`: the ``search`` section of a tune config, validated.
- :mod:`~netrx.tune.search`: the batched ask/tell engine; trials come from
  :mod:`~netrx.tune.source` (budget, groups) and stream through population slots
  (:mod:`~netrx.tune.slots`); :mod:`~netrx.tune.trials` reports and tells them to the
  study; :mod:`~netrx.tune.fastpath` saves storage round trips.
- :mod:`~netrx.tune.samplers`: strategies and pruners by name.
- :mod:`~netrx.tune.coarse_to_fine`: the narrowed box of the fine stage;
  :mod:`~netrx.tune.fine_stage`: when a study starts it.
- :mod:`~netrx.tune.storage`, :mod:`~netrx.tune.liveness`: SQLite / PostgreSQL studies,
  heartbeats, stale trials and their retry.
- :mod:`~netrx.tune.exports`: best.yaml, trials.csv, importance.json, plots.json;
  :mod:`~netrx.tune.api` (:func:`tune`), :mod:`~netrx.cli.tune` (``netrx tune``);
  :mod:`~netrx.tune.worker`: one worker process (``python -m netrx.tune.worker``).

Optuna is imported only when a search runs.
"""

from netrx.tune.api import TuneResult, WorkerError, tune
from netrx.tune.distributions import Distribution, parse_assignment, parse_distribution
from netrx.tune.settings import SearchConfig, TuneConfig, load_tune_config
from netrx.tune.space import Param, Space

__all__ = [
    "Distribution",
    "Param",
    "SearchConfig",
    "Space",
    "TuneConfig",
    "TuneResult",
    "WorkerError",
    "load_tune_config",
    "parse_assignment",
    "parse_distribution",
    "tune",
]
