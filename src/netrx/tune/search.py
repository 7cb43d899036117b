"""The batched ask/tell engine: trials stream through population slots.

One worker (``netrx tune``, or a process of :mod:`netrx.tune.worker`) repeats:

1. ask the sampler for trials (K at a time, within the trial budget) and sort them into
   groups (:mod:`netrx.tune.slots`: trials that can share one population);
2. train the largest group's trials fused, K slots at once, with :func:`netrx.fit`; at the
   end of every epoch each slot's dev error goes to its trial — reported at the epochs
   where the pruner decides (its rungs) and at the last epoch — and the pruner is asked;
3. the moment a slot's trial completes, is pruned or diverges, the slot gets the next
   trial of its group (asking the sampler again when the group's queue is empty);
4. when no trial of the group is left, the running members move into a smaller
   population (no compute for idle slots), and when none is left the next group starts.

A trial whose loss or dev error becomes NaN/inf never completes: it is PRUNED (when it
had reported a finite value; the sampler then ranks it with the trials stopped early) or
FAIL, with the reason in its user attribute ``netrx:reason``. Workers share the study
through its storage; heartbeats and the single retry of a lost worker's trials are in
:mod:`netrx.tune.liveness`; what a trial leaves in the study, in :mod:`netrx.tune.trials`;
the fine stage of coarse_to_fine, in :mod:`netrx.tune.fine_stage`.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from netrx.errors import DivergedError, NetrxError
from netrx.train.callbacks import Callback, EpochLog, FitState
from netrx.tune.fastpath import prune_batch
from netrx.tune.fine_stage import fine_to_come, start_fine
from netrx.tune.liveness import Liveness, fail_and_retry
from netrx.tune.samplers import decision_epochs
from netrx.tune.settings import TuneConfig
from netrx.tune.source import Pending, TrialSource
from netrx.tune.trials import Running, Teller

if TYPE_CHECKING:
    import optuna

    from netrx.experiment.prepared import Prepared
    from netrx.tune.slots import SlotPopulation


class Engine:
    """One worker of a study (see the module docstring).

    Args:
        cfg: the tune config.
        prepared: the data (:func:`netrx.experiment.prepared.prepare` of ``cfg.run``).
        study: the study (any storage).
        live: this worker's :class:`~netrx.tune.liveness.Liveness` (registered).
        deadline: ``time.monotonic()`` value after which nothing new starts and running
            trials are pruned (the wall-clock budget), or None.
        on_epoch: called with the engine after every epoch of every group (live table).
        log: prints a line (the narrowed box, warnings).
    """

    def __init__(self, cfg: TuneConfig, prepared: Prepared, study: optuna.Study,
                 live: Liveness, *, deadline: float | None = None,
                 on_epoch: Callable[[Engine], None] | None = None,
                 log: Callable[[str], None] = lambda s: None) -> None:
        self.cfg, self.prepared, self.study, self.live = cfg, prepared, study, live
        self.deadline, self.on_epoch, self.log = deadline, on_epoch, log
        self.space = cfg.space
        self.max_epochs = cfg.max_epochs
        self.decisions = decision_epochs(cfg)
        self.teller = Teller(study, self.space, log)
        self.finished = self.teller.finished  # what this worker ended (the live table)
        self.source = TrialSource(cfg, study, live, self.teller.fail, deadline)
        self.slots: list[Running | None] = []
        self.started = time.monotonic()
        #: groups run (with their first population size), population compactions, and
        #: epochs summed over slots (K per epoch) and over the trials that trained in them
        self.stats: dict[str, Any] = {"groups": [], "compactions": 0, "slot_epochs": 0,
                                      "trial_epochs": 0}
        self._last_reap = -math.inf
        self._group: tuple | None = None
        self._compact = False
        self._starved = False

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    # -- one group -------------------------------------------------------------------
    def _run_group(self, group: tuple) -> None:
        from netrx.tune.slots import SlotPopulation, slot_config

        first: list[Pending] = []
        while len(first) < self.cfg.search.slots:
            p = self.source.take(group)
            if p is None:
                break
            first.append(p)
        if not first:
            return
        self._group = group
        self.slots = [Running(p) for p in first]
        self.stats["groups"].append({"group": dict(group), "slots": len(first),
                                     "trials": [p.trial.number for p in first]})
        try:
            sp = SlotPopulation(functools.partial(slot_config, self.cfg), self.prepared,
                                [p.values for p in first], self.cfg.run.seed)
        except (NetrxError, ValueError, RuntimeError) as e:
            from optuna.trial import TrialState

            for r in self.slots:
                self.teller.tell(r.trial, TrialState.FAIL, reason=f"cannot build this group: {e}")
            self.slots = []
            return
        while sp is not None:
            sp = self._fit(sp)
        self.slots = []

    def _fit(self, sp: SlotPopulation) -> SlotPopulation | None:
        """Train ``sp`` until its slots are empty (None) or a quarter idle with no trial
        of the group left (then a compacted one)."""
        from netrx.train import fit

        self._compact = False
        splits = self.prepared.splits
        kwargs = sp.fit_kwargs()
        kwargs["callbacks"] = [*kwargs["callbacks"], _Driver(self, sp)]
        try:
            fit(sp.pop, splits.train, splits.dev, epochs=10**9, progress=False,
                task=self.prepared.dataset.task, compile=self.cfg.run.train.compile, **kwargs)
        except DivergedError:
            pass  # every remaining member diverged: already told
        if not self._compact:
            return None
        keep = [k for k, r in enumerate(self.slots) if r is not None]
        state = self._last_state
        self.stats["compactions"] += 1
        new = sp.compact(state, keep)
        self.slots = [self.slots[k] for k in keep]
        return new

    def after_epoch(self, sp: SlotPopulation, state: FitState, log: EpochLog) -> None:
        """Report, prune, complete, refill; stop ``fit`` when the group is done."""
        import numpy as np
        from optuna.trial import TrialState

        self._last_state = state
        metric = log.dev_error if self.cfg.search.metric == "dev_error" else log.dev_loss
        free: list[int] = []
        check: list[int] = []
        self.stats["slot_epochs"] += sp.K
        self.stats["trial_epochs"] += sum(r is not None for r in self.slots)
        for k, run in enumerate(self.slots):
            if run is None:
                continue
            run.epochs += 1
            v = float(metric[k]) if metric is not None else float("nan")
            if log.status[k] == "diverged" or not np.isfinite(v):
                what = self.cfg.search.metric.replace("_", " ")
                self.teller.end_pruned(run, f"diverged: the loss or the {what} became "
                                      f"NaN/inf in epoch {run.epochs}")
                free.append(k)
                continue
            run.curve.append(v)
            try:
                if run.epochs >= self.max_epochs:
                    self.teller.report(run, v)
                    self.teller.tell(run.trial, TrialState.COMPLETE, v, run=run)
                    free.append(k)
                elif self.decisions is None or run.epochs in self.decisions:
                    self.teller.report(run, v)
                    check.append(k)
            except Exception as e:  # the trial was finished by someone else
                self.log(f"trial {run.trial.number}: {type(e).__name__}: {e}")
                free.append(k)
        try:  # the pruner decides for every slot at a rung from one read of the study
            verdicts = prune_batch(self.study, [self.slots[k].trial for k in check])
        except Exception as e:
            self.log(f"the pruner failed ({type(e).__name__}: {e}); no trial pruned")
            verdicts = [False] * len(check)
        for k, prune in zip(check, verdicts):
            if prune:  # (the reason is the state itself)
                self.teller.tell(self.slots[k].trial, TrialState.PRUNED, run=self.slots[k])
                free.append(k)
        for k in free:
            self.slots[k] = None
        if self.expired():
            for k, run in enumerate(self.slots):
                if run is not None:
                    self.teller.end_pruned(run, "time budget exhausted")
                    self.slots[k] = None
        self._refill(sp, state)
        if self.on_epoch is not None:
            self.on_epoch(self)
        active = sum(r is not None for r in self.slots)
        if active == 0:
            state.stop = True
        elif sp.K > 1 and 4 * active <= 3 * sp.K and self._starved:
            self._compact = True  # a quarter idle, no trial of this group coming: shrink
            state.stop = True

    def _refill(self, sp: SlotPopulation, state: FitState) -> None:
        idle = [k for k, r in enumerate(self.slots) if r is None]
        if not idle:
            return
        self._maybe_reap()
        self.source.refresh(every=self.live.interval / 2)
        changes: dict[int, dict[str, Any]] = {}
        self._starved = False
        for k in idle:
            p = self.source.take(self._group) if not self.expired() else None
            if p is None:
                self._starved = True
                break
            self.slots[k] = Running(p)
            changes[k] = p.values
            self.stats["groups"][-1]["trials"].append(p.trial.number)
        try:
            sp.refill(state, changes)
        except (NetrxError, ValueError, RuntimeError) as e:
            from optuna.trial import TrialState

            for k in changes:
                self.teller.tell(self.slots[k].trial, TrialState.FAIL, reason=f"cannot start: {e}")
                self.slots[k] = None
        for k, r in enumerate(self.slots):
            if r is None:
                sp.idle(k)

    # -- the worker loop -------------------------------------------------------------
    def _maybe_reap(self, every: float | None = None) -> None:
        every = self.live.interval / 2 if every is None else every
        now = time.monotonic()
        if now - self._last_reap >= every:
            self._last_reap = now
            for number in self.live.reap():
                self.source.invalidate()  # its retry is waiting: count again
                self.log(f"trial {number} was left RUNNING by a lost worker: marked FAIL and "
                         "retried")

    def _more_possible(self) -> bool:
        if self.source.more_possible():
            return True
        return fine_to_come(self.study, self.source)

    def run(self, poll: float = 0.5) -> None:
        """Work until the budget is spent and no trial is left running anywhere (or the
        deadline passes)."""
        try:
            while not self.expired():
                self._maybe_reap()
                group = self.source.next_group()
                if group is not None:
                    self._run_group(group)
                    continue
                if start_fine(self.study, self.cfg, self.source, self.log):
                    continue
                if not self._more_possible() and self.live.others_running() == 0:
                    break
                time.sleep(poll)  # others' trials may still end or come back as retries
        except BaseException as e:
            reason = "interrupted by the user" if isinstance(e, KeyboardInterrupt) \
                else f"worker error: {type(e).__name__}: {e}"
            self.release(reason)
            raise
        self.release("time budget exhausted before it started")

    def release(self, reason: str) -> None:
        """Give back every trial this worker holds, so that a rerun or another worker
        carries on: one that trained is marked FAIL with ``reason`` and re-enqueued; one
        still queued goes back to WAITING as it was."""
        started = {r.trial.number for r in self.slots if r is not None}
        self.slots = []
        self.source.give_back(reason)
        if not started:
            return
        for t in self.study.get_trials(deepcopy=False):
            if t.number in started and not t.state.is_finished():
                fail_and_retry(self.study, t, reason, self.cfg.search.retries, count=False)


class _Driver(Callback):
    """The engine's hooks inside ``fit``."""

    def __init__(self, engine: Engine, sp: SlotPopulation) -> None:
        self.engine, self.sp = engine, sp

    def on_fit_start(self, state: FitState) -> None:
        self.sp.on_fit_start(state)
        for k, r in enumerate(self.engine.slots):
            if r is None:
                self.sp.idle(k)

    def on_epoch_end(self, state: FitState, log: EpochLog) -> None:
        self.engine.after_epoch(self.sp, state, log)
