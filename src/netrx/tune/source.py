"""Where trials come from: the sampler, within the budget, sorted into groups.

:class:`TrialSource` asks the study for trials (fresh ones while the budget lasts, enqueued
ones — retries, the fine stage — first), draws each one's values from the search space,
and keeps trials of other groups queued (RUNNING in the study, held by this worker, at most
one population's worth) until their group runs.

``search.trials`` counts fresh configurations, and it is exact under any number of
workers: a fresh trial is claimed in the storage, not from a local count. Optuna numbers
trials inside the transaction that creates them (it locks the study's row on PostgreSQL;
SQLite's writes are serialised), so a trial's number is how many trials of the study were
created before it, all of them visible once it exists. A trial numbered below the budget
is within it at no cost; one numbered at or above it is within it when fewer than
``search.trials`` fresh trials come before it (one read of the study). One that is not
was asked by a worker whose count had gone stale while the others used the last trials:
it never trains, it is told FAIL at once with the attribute ``netrx:over_budget`` and the
reason ``over budget: ...``; so is the second copy of a fine-stage point, which two
workers that saw the coarse stage end at once both enqueued. The local count (re-read
at most every half heartbeat, and before each ask near the end) only decides whether
asking is worth it.
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netrx.config import get_path, parse_config
from netrx.errors import NetrxError
from netrx.tune.fastpath import ask_new
from netrx.tune.liveness import RETRY_OF, STAGE, WORKER, Liveness, give_back
from netrx.tune.settings import TuneConfig

if TYPE_CHECKING:
    import optuna

OVER_BUDGET = "netrx:over_budget"  # trial attr: asked after the budget was spent
FINE_INDEX = "netrx:fine_index"  # trial attr: which point of the fine stage it is


def is_fresh(t: optuna.trial.FrozenTrial) -> bool:
    """A trial the sampler proposed (not a retry, not an enqueued fine-stage point, not an
    extra one asked after the budget was spent)."""
    a = t.user_attrs
    return RETRY_OF not in a and a.get(STAGE) != "fine" and OVER_BUDGET not in a


@dataclass
class Pending:
    """An asked trial waiting for a slot."""

    trial: optuna.Trial
    values: dict[str, Any]
    group: tuple


def group_of(cfg: TuneConfig, values: dict[str, Any]) -> tuple:
    """Trials with the same key share a population: equal non-member-wise values, and each
    member-wise regularizer on (≠ 0) or off alike (off changes what is built)."""
    key = []
    for p in cfg.space:
        if p.key not in values:
            key.append((p.key, "absent"))
        elif cfg.member_wise(p.key):
            v = values[p.key]
            key.append((p.key, "off" if v is None or v == 0 else "on"))
        else:
            key.append((p.key, json.dumps(values[p.key], sort_keys=True)))
    return tuple(key)


class TrialSource:
    """Trials for one worker.

    Args:
        cfg: the tune config.
        study: the study.
        live: this worker's liveness (its id tags every trial it asks).
        fail: ``fail(trial, reason)`` ends a trial that cannot run (told FAIL).
        deadline: ``time.monotonic()`` value after which nothing is asked, or None.
    """

    def __init__(self, cfg: TuneConfig, study: optuna.Study, live: Liveness,
                 fail: Callable[[optuna.Trial, str], None],
                 deadline: float | None = None) -> None:
        self.cfg, self.study, self.live, self.fail = cfg, study, live, fail
        self.deadline = deadline
        self.space = cfg.space
        self.fixed = {k: get_path(cfg.run, k) for p in self.space for k in p.when
                      if k not in self.space.params}
        self.queues: dict[tuple, deque[Pending]] = {}
        self._quota: dict[str, int] | None = None
        self._quota_time = -math.inf
        self._margin: int | None = None
        s = cfg.search
        self.c2f = s.strategy == "coarse_to_fine"
        self.n_total = s.trials
        if s.strategy == "grid":
            self.n_total = min(self.n_total, math.prod(len(v) for v in
                                                       self.space.grid(s.grid_points).values()))
        self.n_coarse = max(1, round(s.coarse_fraction * self.n_total)) if self.c2f \
            else self.n_total
        self.n_fine = self.n_total - self.n_coarse if self.c2f else 0

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def refresh(self, *, every: float | None = None) -> dict[str, int]:
        """How many trials may still be asked: fresh ones within the budget (coarse ones
        for coarse_to_fine) and the enqueued (WAITING) ones. One storage read; with
        ``every``, at most once per ``every`` seconds (the local count is kept in between)."""
        now = time.monotonic()
        if every is not None and self._quota is not None and self._quota["fresh"] > 0 \
                and now - self._quota_time < every:
            return self._quota
        self._quota_time = now
        return self._count(self.study.get_trials(deepcopy=False))

    def _count(self, trials: list[optuna.trial.FrozenTrial]) -> dict[str, int]:
        from optuna.trial import TrialState

        self._margin = None
        waiting = sum(t.state == TrialState.WAITING for t in trials)
        fresh = sum(1 for t in trials if is_fresh(t) and t.state != TrialState.WAITING)
        self._quota = {"fresh": max(0, self.n_coarse - fresh), "waiting": waiting}
        return self._quota

    @property
    def _race_margin(self) -> int:
        """Fresh trials left below which each ask checks its rank: more than the other
        workers (every one that has not finished) can ask between two reads of this one,
        about two populations' worth each."""
        if self._margin is None:
            others = sum(1 for w in self.live.workers().values() if not w.get("done"))
            self._margin = 2 * self.cfg.search.slots * max(1, others) + 1
        return self._margin

    def _over_budget(self, trial: optuna.Trial) -> bool:
        """Whether a fresh trial came after the budget was spent (another worker used the
        last trials while this one's count was stale, or two asked the last one at once):
        its rank among the fresh trials decides (see the module docstring), so exactly
        the budget's number of fresh trials train, whatever the interleaving. A trial
        numbered below the budget cannot be beyond it: no read."""
        if trial.number < self.n_coarse:
            return False
        trials = self.study.get_trials(deepcopy=False)
        rank = sum(1 for t in trials if is_fresh(t) and t.number < trial.number)
        self._count(trials)  # the local count, fresh from the same read
        if rank >= self.n_coarse:
            self._quota["fresh"] = 0
            return True
        return False

    def _second_copy(self, trial: optuna.Trial, index: int) -> bool:
        """Whether fine point ``index`` was enqueued before ``trial`` too: two workers that
        see the coarse stage end at the same moment both enqueue the fine stage (Optuna's
        ``skip_if_exists`` reads, then writes); the copy with the lower number trains."""
        return any(t.user_attrs.get(FINE_INDEX) == index and t.number < trial.number
                   for t in self.study.get_trials(deepcopy=False))

    def can_ask(self) -> bool:
        if self.expired():
            return False
        q = self._quota if self._quota is not None else self.refresh()
        return q["fresh"] > 0 or q["waiting"] > 0

    def ask(self) -> Pending | None:
        """One new trial from the sampler (or an enqueued one), or None when the budget
        is spent. A trial whose values make an invalid config fails at once."""
        while self.can_ask():
            q = self._quota
            if q["waiting"] == 0 and q["fresh"] < self._race_margin:
                q = self.refresh()  # near the end: count what the others asked
                if not self.can_ask():
                    break
            trial = self.study.ask() if q["waiting"] > 0 else ask_new(self.study)
            frozen = getattr(trial, "_cached_frozen_trial", None)  # read by ask() already
            attrs = frozen.user_attrs if frozen is not None else trial.user_attrs
            if q["waiting"] > 0:
                q["waiting"] -= 1
            if RETRY_OF not in attrs and STAGE not in attrs:
                q["fresh"] = max(0, q["fresh"] - 1)
                if self._over_budget(trial):  # claimed in the storage, exactly
                    trial.set_user_attr(OVER_BUDGET, True)
                    self.fail(trial, "over budget: never run, the other workers had used "
                                     "the last trials of search.trials")
                    continue
            elif FINE_INDEX in attrs and self._second_copy(trial, attrs[FINE_INDEX]):
                trial.set_user_attr(OVER_BUDGET, True)
                self.fail(trial, f"over budget: never run, a second copy of fine point "
                                 f"{attrs[FINE_INDEX]} (two workers started the fine stage "
                                 "at once)")
                continue
            trial.set_user_attr(WORKER, self.live.id)
            if self.c2f and STAGE not in attrs:
                trial.set_user_attr(STAGE, "coarse")
            try:
                values = self.space.suggest(trial, self.fixed)
                self._validate(values)
            except (NetrxError, ValueError) as e:
                self.fail(trial, f"invalid config: {e}")
                continue
            return Pending(trial, values, group_of(self.cfg, values))
        return None

    def _validate(self, values: dict[str, Any]) -> None:
        from netrx.optim.aliases import build_optimizer

        run = parse_config(self.cfg.trial_config(values))
        build_optimizer(run.optimizer.name, **run.optimizer.hyperparameters())

    def queued(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def take(self, group: tuple) -> Pending | None:
        """The next trial for a slot of ``group``: from its queue, else asked (trials of
        other groups asked meanwhile wait in their queues, at most K of them)."""
        q = self.queues.get(group)
        if q:
            return q.popleft()
        cap = self.cfg.search.slots
        while self.queued() < cap:
            p = self.ask()
            if p is None:
                return None
            if p.group == group:
                return p
            self.queues.setdefault(p.group, deque()).append(p)
        return None

    def next_group(self) -> tuple | None:
        """Ask a batch of trials (up to K waiting) and pick the group with most of them."""
        self.refresh(every=self.live.interval / 2)
        while self.queued() < self.cfg.search.slots:
            p = self.ask()
            if p is None:
                break
            self.queues.setdefault(p.group, deque()).append(p)
        live = {g: q for g, q in self.queues.items() if q}
        if not live:
            return None
        return max(live, key=lambda g: len(live[g]))

    def invalidate(self) -> None:
        """Count again at the next ask (a retry was enqueued)."""
        self._quota = None

    def more_possible(self) -> bool:
        """Whether a trial may still come: budget left or an enqueued trial waiting."""
        q = self.refresh()
        return q["waiting"] > 0 or q["fresh"] > 0

    def give_back(self, reason: str) -> None:
        """Return every queued (never started) trial to the study as WAITING."""
        queued = {p.trial.number for q in self.queues.values() for p in q}
        self.queues = {}
        if not queued:
            return
        for t in self.study.get_trials(deepcopy=False):
            if t.number in queued and not t.state.is_finished():
                give_back(self.study, t, reason, self.cfg.search.retries)
