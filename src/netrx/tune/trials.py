"""A trial's life in one worker: :class:`Running` in a slot, :class:`Finished` when it
ended, and :class:`Teller`, which reports its dev values and tells its end to the study.

What the study keeps of a trial beside its state and value:

- the reported values ``trial.report(v, epoch)``, only at the pruner's rungs and the last
  epoch (each is a storage round trip);
- ``netrx:curve``: the dev metric after every epoch, when not every epoch was reported;
- ``netrx:epochs``: the epochs trained, when that is not ``len(curve)`` (it diverged);
- ``netrx:reason``: why it did not complete (diverged, out of time, cannot build, ...).

A trial ended early (diverged, out of time) is PRUNED with its last finite dev value, so
that the sampler ranks it with the trials stopped early, or FAIL when it never had one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netrx.tune.liveness import REASON
from netrx.tune.source import Pending
from netrx.tune.space import Space

if TYPE_CHECKING:
    import optuna

CURVE = "netrx:curve"  # trial attr: the dev metric after every epoch
EPOCHS = "netrx:epochs"  # trial attr: epochs trained, when not len(curve) (diverged)


@dataclass
class Running:
    """A trial in a slot."""

    pending: Pending
    epochs: int = 0
    curve: list[float] = field(default_factory=list)
    reported: int = 0  # the last epoch reported to the study
    reports: int = 0  # how many epochs were reported

    @property
    def trial(self) -> optuna.Trial:
        return self.pending.trial


@dataclass
class Finished:
    """What this worker saw of a trial it ended (for the live table)."""

    number: int
    state: str
    value: float | None
    values: dict[str, Any]
    epochs: int
    reason: str = ""


class Teller:
    """Reports and tells the trials of one worker to the study; keeps :attr:`finished`.

    Args:
        study: the study.
        space: the search space (decodes a trial's parameters for :class:`Finished`).
        log: prints a line (a trial whose end could not be recorded).
    """

    def __init__(self, study: optuna.Study, space: Space,
                 log: Callable[[str], None] = lambda s: None) -> None:
        self.study, self.space, self.log = study, space, log
        self.finished: list[Finished] = []

    def tell(self, trial: optuna.Trial, state: Any, value: float | None = None, *,
             reason: str = "", run: Running | None = None) -> None:
        """End ``trial`` as ``state`` (a ``TrialState``; ``value`` when COMPLETE), with its
        curve, epochs and ``reason`` as user attributes. Never raises: a trial that another
        worker ended meanwhile (it declared this one lost) is only logged."""
        from optuna.trial import TrialState

        try:
            if run is not None and len(run.curve) > run.reports:  # else the reports hold it
                trial.set_user_attr(CURVE, [round(v, 6) for v in run.curve])
            if run is not None and run.epochs != len(run.curve):
                trial.set_user_attr(EPOCHS, run.epochs)
            if reason:
                trial.set_user_attr(REASON, reason)
            if state == TrialState.COMPLETE:
                self.study.tell(trial, value)
            else:
                self.study.tell(trial, state=state)
        except Exception as e:  # e.g. another worker declared this one lost meanwhile
            self.log(f"trial {trial.number}: could not record its end ({type(e).__name__}: "
                     f"{e}); another worker may have taken it over")
            return
        values = self.space.decode(trial.params) if trial.params else {}
        self.finished.append(Finished(trial.number, state.name, value, values,
                                      run.epochs if run else 0, reason))

    def report(self, run: Running, value: float, step: int | None = None) -> None:
        """Report ``value`` at ``step`` (default: the epochs trained), once per step."""
        step = run.epochs if step is None else step
        if step > run.reported:
            run.trial.report(value, step)
            run.reported = step
            run.reports += 1

    def end_pruned(self, run: Running, reason: str) -> None:
        """End a trial early (diverged, or out of time): PRUNED with its last finite dev
        value, or FAIL when it never had one."""
        from optuna.trial import TrialState

        if run.curve and run.reported < len(run.curve):  # give it its last finite value
            try:
                self.report(run, run.curve[-1], len(run.curve))
            except Exception:
                pass
        state = TrialState.PRUNED if run.reported > 0 else TrialState.FAIL
        self.tell(run.trial, state, reason=reason, run=run)

    def fail(self, trial: optuna.Trial, reason: str) -> None:
        """Tell ``trial`` FAIL with ``reason`` (it cannot run)."""
        from optuna.trial import TrialState

        self.tell(trial, TrialState.FAIL, reason=reason)
