"""Workers' heartbeats, stale RUNNING trials, and their single retry.

Optuna's own heartbeat serves ``study.optimize`` only; netrx drives trials with ask/tell,
so it keeps its own. Every worker writes a heartbeat into the study (a study user attribute
``netrx:worker:<id>`` with a counter, its host, pid and wall time) every ``interval``
seconds from a background thread, and tags each trial it asks with its id.

A RUNNING trial belongs to a lost worker when that worker

- ran on this host and its process no longer exists (found at once), or
- has not changed its heartbeat counter for ``grace`` seconds of the observer's clock
  (clocks of different machines are never compared), or
- wrote on this host a wall time older than ``grace`` seconds.

Such a trial is marked FAIL (an atomic transition: one worker wins it) and, unless it was
already retried ``retries`` times, enqueued again with the same parameters.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

WORKER = "netrx:worker"  # trial attr: the id of the worker that runs it
WORKER_PREFIX = "netrx:worker:"  # study attr: a worker's heartbeat
RETRIES = "netrx:retries"  # trial attr: how many times these parameters were retried
RETRY_OF = "netrx:retry_of"  # trial attr: the number of the trial this one retries
REASON = "netrx:reason"  # trial attr: why a trial was pruned or failed
STAGE = "netrx:stage"  # trial attr: coarse / fine (coarse_to_fine)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Liveness:
    """One worker's heartbeat and its view of the other workers.

    Args:
        study: the shared study.
        interval: seconds between heartbeats.
        grace: seconds without a heartbeat after which a worker is lost.
        retries: how many times the parameters of a lost trial are retried.
        clock: a monotonic clock (injectable for tests).
    """

    def __init__(self, study: optuna.Study, *, interval: float = 10.0, grace: float = 60.0,
                 retries: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self.study, self.interval, self.grace, self.retries = study, interval, grace, retries
        self.clock = clock
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.id = f"{self.host}-{self.pid}-{uuid.uuid4().hex[:8]}"
        self.beats = 0
        self.started = time.time()
        self._seen: dict[str, tuple[Any, float]] = {}  # worker -> (counter, when it changed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- my heartbeat ----------------------------------------------------------------
    def beat(self, done: bool = False) -> None:
        self.beats += 1
        self.study.set_user_attr(WORKER_PREFIX + self.id, {
            "host": self.host, "pid": self.pid, "beat": self.beats, "time": time.time(),
            "started": self.started, "done": done})

    def register(self) -> int:
        """Write the first heartbeat; return this worker's index among every worker that
        ever joined the study (ordered by start time), used to derive its sampler seed."""
        self.beat()
        workers = self.workers()
        order = sorted(workers, key=lambda w: (workers[w].get("started", 0.0), w))
        return order.index(self.id)

    def start(self) -> None:
        """Beat every ``interval`` seconds from a daemon thread until :meth:`stop`."""
        def run() -> None:
            while not self._stop.wait(self.interval):
                try:
                    self.beat()
                except Exception:  # a transient storage error: try again next time
                    pass

        self._thread = threading.Thread(target=run, name="netrx-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and record that this worker finished cleanly."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.beat(done=True)
        except Exception:
            pass

    # -- the others ------------------------------------------------------------------
    def workers(self) -> dict[str, dict[str, Any]]:
        attrs = self.study.user_attrs
        return {k[len(WORKER_PREFIX):]: v for k, v in attrs.items()
                if k.startswith(WORKER_PREFIX) and isinstance(v, dict)}

    def lost(self, worker: str | None, info: dict[str, Any] | None, started: float | None,
             now: float) -> str | None:
        """Why ``worker`` is lost, or None while it may still be alive."""
        if worker == self.id:
            return None
        if info is None:  # a trial without a worker tag (or a worker never seen)
            key = f"?{worker}"
            first = self._seen.setdefault(key, (None, now))[1]
            if now - first > self.grace:
                return "its worker never wrote a heartbeat"
            if started is not None and time.time() - started > self.grace and worker is None:
                return f"no worker claimed it for more than {self.grace:g} s"
            return None
        if info.get("done"):
            return f"worker {worker} finished without completing it"
        if info.get("host") == self.host:
            if not _alive(int(info.get("pid", -1))):
                return f"worker {worker} (pid {info.get('pid')}) is no longer running"
            if time.time() - float(info.get("time", 0.0)) > self.grace:
                return f"worker {worker} sent no heartbeat for more than {self.grace:g} s"
        counter = info.get("beat")
        last = self._seen.get(worker)
        if last is None or last[0] != counter:
            self._seen[worker] = (counter, now)
            return None
        if now - last[1] > self.grace:
            return f"worker {worker} sent no heartbeat for more than {self.grace:g} s"
        return None

    def reap(self) -> list[int]:
        """Mark the RUNNING trials of lost workers FAIL and re-enqueue their parameters
        (at most ``retries`` times); return the numbers of the trials marked."""
        from optuna.trial import TrialState

        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not running:
            return []
        workers = self.workers()
        now = self.clock()
        marked = []
        for t in running:
            owner = t.user_attrs.get(WORKER)
            if owner == self.id:
                continue
            started = t.datetime_start.timestamp() if t.datetime_start else None
            why = self.lost(owner, workers.get(owner) if owner else None, started, now)
            if why is not None and fail_and_retry(self.study, t, f"worker lost: {why}",
                                                  self.retries):
                marked.append(t.number)
        return marked

    def others_running(self) -> int:
        """RUNNING trials that belong to other workers."""
        from optuna.trial import TrialState

        return sum(1 for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                   if t.user_attrs.get(WORKER) != self.id)


def fail_and_retry(study: optuna.Study, trial: optuna.trial.FrozenTrial, reason: str,
                   retries: int, *, count: bool = True) -> bool:
    """Mark ``trial`` (RUNNING) FAIL with ``reason`` and enqueue its parameters again unless
    they were retried ``retries`` times already. Returns False when another worker won
    the transition (or the trial finished meanwhile). ``count=False`` re-enqueues without
    counting a retry (an interruption by the user is not the trial's fault)."""
    from optuna.trial import TrialState

    storage = study._storage  # Optuna has no public call to finish another worker's trial
    try:
        storage.set_trial_user_attr(trial._trial_id, REASON, reason)
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    except Exception:  # UpdateFinishedTrialError, or the lock was lost to another worker
        return False
    done = int(trial.user_attrs.get(RETRIES, 0))
    if done < retries or not count:
        attrs = {RETRY_OF: trial.number, RETRIES: done + (1 if count else 0)}
        if STAGE in trial.user_attrs:
            attrs[STAGE] = trial.user_attrs[STAGE]
        study.enqueue_trial(dict(trial.params), user_attrs=attrs)
    return True


def give_back(study: optuna.Study, trial: optuna.trial.FrozenTrial, reason: str,
              retries: int) -> None:
    """Return a trial that never started training to the queue: back to WAITING with its
    parameters (the next ``ask`` of any worker takes it, and ``suggest`` returns the stored
    values), or, where the storage refuses that, FAIL and re-enqueued."""
    from optuna.trial import TrialState

    try:
        study._storage.set_trial_state_values(trial._trial_id, TrialState.WAITING)
        return
    except Exception:
        pass
    fail_and_retry(study, trial, reason, retries, count=False)


NEVER_STARTED = "never started: the study's time budget was spent"


def close_unstarted(study: optuna.Study, reason: str = NEVER_STARTED) -> int:
    """When a study's budget is spent and no trial runs any more, mark every WAITING trial
    (enqueued ahead by the fine stage, or given back at the deadline) FAIL with ``reason``:
    a finished study keeps no trial that looks as if it were still to come. Returns how
    many were closed (0 while any trial is RUNNING: its worker may still take them)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
    if any(t.state == TrialState.RUNNING for t in trials):
        return 0
    closed = 0
    for t in trials:
        try:
            study._storage.set_trial_user_attr(t._trial_id, REASON, reason)
            study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            closed += 1
        except Exception:  # another worker took it meanwhile
            pass
    return closed
