"""Fewer storage round trips for a batched engine.

A relational study (SQLite, PostgreSQL) re-reads every unfinished trial on each
``get_trials``; with K trials running in slots, a K-way batch of ``should_prune`` calls
reads them K times. Two shortcuts, both falling back to the plain Optuna calls:

- :func:`ask_new`: a new trial without looking for enqueued ones (``study.ask`` first
  scans the WAITING trials, one full read) when the caller knows there are none.
- :func:`prune_batch`: the pruner's decisions for all trials that reached a rung in this
  epoch, from one snapshot of the study. The snapshot is updated with the rung values the
  pruner records as it goes, so the decisions are those of calling ``should_prune`` on each
  trial in turn (successive halving / ASHA; other pruners use ``should_prune``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna


def ask_new(study: optuna.Study) -> optuna.Trial:
    """A fresh trial (no WAITING trial is popped)."""
    import optuna

    try:
        study._thread_local.cached_all_trials = None  # what ask() resets for the sampler
        trial_id = study._storage.create_new_trial(study._study_id)
        return optuna.Trial(study, trial_id)
    except AttributeError:  # a future Optuna without these internals
        return study.ask()


class _Storage:
    """Writes through to the real storage and mirrors system attributes into the
    snapshot, so that later decisions of the batch see them."""

    def __init__(self, storage: Any, snapshot: dict[int, Any]) -> None:
        self._storage, self._snapshot = storage, snapshot

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._storage.set_trial_system_attr(trial_id, key, value)
        t = self._snapshot.get(trial_id)
        if t is not None:
            t.system_attrs[key] = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)


class _View:
    """The study as the pruner sees it during one batch."""

    def __init__(self, study: optuna.Study, trials: list[Any]) -> None:
        self._study = study
        self._trials = trials
        self._storage = _Storage(study._storage, {t._trial_id: t for t in trials})

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
        trials = self._trials if states is None else [t for t in self._trials
                                                      if t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)


def prune_batch(study: optuna.Study, trials: Sequence[optuna.Trial]) -> list[bool]:
    """``[trial.should_prune() for trial in trials]`` with one read of the study."""
    import optuna

    if not trials:
        return []
    if type(study.pruner) is not optuna.pruners.SuccessiveHalvingPruner:
        return [t.should_prune() for t in trials]
    snapshot = study.get_trials(deepcopy=True)
    view = _View(study, snapshot)
    by_number = {t.number: t for t in snapshot}
    return [bool(study.pruner.prune(view, by_number[t.number])) for t in trials]
