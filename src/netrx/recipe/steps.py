"""What every step of ``netrx improve`` shares: the time plan, training without the test
set, the context of a run. The baseline is :mod:`netrx.recipe.baseline`, a round
:mod:`netrx.recipe.round`, the final step :mod:`netrx.recipe.final`; the plan of the
steps is :mod:`netrx.recipe.plan`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from netrx.config import RunConfig, parse_config, set_path
from netrx.diagnose.prescriptions import (
    input_kind,
)
from netrx.errors import DataError, unknown_choice
from netrx.experiment.assemble import train
from netrx.experiment.evaluate import member_errors
from netrx.experiment.prepared import Prepared
from netrx.population import Population
from netrx.registry import FAMILIES
from netrx.train import History
from netrx.train.deadline import Budget, Deadline

FAMILIES_BY_KIND = {"table": ("mlp",), "signal": ("mlp", "cnn1d", "resnet1d"),
                    "image": ("mlp", "cnn2d", "resnet2d")}
#: ``--sweep`` of ``netrx improve``
SWEEPS = ("grid", "lr-find")
#: ``--family`` of ``netrx improve``: ``auto`` or a registered family
FAMILY_CHOICES = ("auto", *FAMILIES.names())
#: fractions of the budget: baseline, tuning rounds, final (the final gets the rest)
PLAN = {"baseline": 0.25, "rounds": 0.55, "final": 0.2}
LR_RANGE = (1e-4, 3e-2)
PATIENCE = 10
MAX_EPOCHS = 200
RESERVE = 0.04  # of the budget, kept for writing the run directory
MAX_TRIALS = 500  # per round
#: ASHA's first rung is max_epochs / ASHA_SPAN (rungs ×3: 4 of them): judging a trial after
#: one epoch favours what learns fast over what generalises (augmentation, regularization)
ASHA_SPAN = 27
STATE = "improve_state.json"


def learning_rates(k: int, lo: float = LR_RANGE[0], hi: float = LR_RANGE[1]) -> list[float]:
    """k learning rates evenly spaced on a log scale: α_i = 10^(r_i), r_i = log10 lo +
    i·(log10 hi − log10 lo)/(k − 1)."""
    if k == 1:
        return [float(math.sqrt(lo * hi))]
    r = np.linspace(math.log10(lo), math.log10(hi), k)
    return [float(10 ** v) for v in r]


def families_for(family: str, input_shape: tuple[int, ...] | None,
                 columns: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The families to try: one named family, or for ``auto`` those fitting the input kind
    (:func:`~netrx.diagnose.prescriptions.input_kind`)."""
    if family == "auto":
        return FAMILIES_BY_KIND.get(input_kind(input_shape, columns) or "", ("mlp",))
    if family not in FAMILIES:
        raise unknown_choice("family", family, ("auto", *FAMILIES))
    return (family,)


def patience_for(epochs: int) -> int:
    """Early-stopping patience for a fit of ``epochs`` epochs: max(10, epochs / 4). A fixed
    10 stops augmented or strongly regularized training, whose dev error falls slowly and
    noisily, long before the epochs its tuning trial ran."""
    return max(PATIENCE, int(epochs) // 4)


def early_stopping_for(epochs: int) -> dict[str, Any]:
    """improve's early stopping for estimates and the final members: patience
    :func:`patience_for`, on the **dev loss**. Chosen on the dev error, the restored epoch
    is the one that happened to get a few more of a small dev set's rows right, and the
    estimate reports that same lucky error; the loss moves smoothly and is not the number
    reported. Measured (``python bench/improve_monitor.py``, 3 tables × 3 splits, strong
    default, 5 folds × 8 seeds): mean member test error 0.031 → 0.026, the cross-fit
    ensemble's 0.0165 → 0.0177 (one row of 819)."""
    return {"patience": patience_for(epochs), "monitor": "dev_loss"}


def fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}"


# -- training without the test set ------------------------------------------------------


def train_population(cfg: RunConfig, prepared: Prepared, budget: Budget,
                     extra: list[Any] | None = None) -> tuple[Population, History,
                                                              list[dict[str, Any]]]:
    """Fit ``cfg`` (its ``members``) on train with early stopping on dev and a deadline;
    return the population, its history and per-member train / dev errors (no test)."""
    pieces, history = train(cfg, prepared, callbacks=[Deadline(budget), *(extra or [])])
    pop = pieces.population
    return pop, history, member_errors(pop, prepared, history)


def best_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ranked = [r for r in rows if r["dev_error"] is not None]
    if not ranked:
        raise DataError("every member diverged; try a smaller learning-rate range")
    return min(ranked, key=lambda r: (r["dev_error"], r["member"]))


def single_config(cfg: RunConfig, **changes: Any) -> RunConfig:
    """``cfg`` as a one-member config with ``changes`` (dotted paths) made."""
    data = cfg.model_dump(mode="json")
    data["members"] = 1
    for path, value in changes.items():
        set_path(data, path, value)
    return parse_config(data)


def with_epochs(cfg: RunConfig, epochs: int) -> RunConfig:
    """``cfg`` (one member) training ``epochs`` epochs. A per-epoch schedule that spanned
    the run (``total`` = the old epochs, e.g. cosine annealing α_t = α0·½(1 + cos(π·t/T)))
    spans the new one, T := epochs: "train longer" does not spend its extra epochs at
    α_min. A round's trial that its time shortens is not passed through this but cut, its
    schedule kept (:func:`netrx.recipe.round._tune`): annealed over fewer epochs it ends
    worse than stopped partway through the longer cosine."""
    changes: dict[str, Any] = {"train.epochs": int(epochs)}
    schedule = cfg.optimizer.schedule or {}
    if schedule.get("per") == "epoch" and schedule.get("total") == cfg.train.epochs:
        changes["optimizer.schedule.total"] = int(epochs)
    return single_config(cfg, **changes)


@dataclass
class Context:
    """What every step reads: the starting config, the prepared data, the clock (this
    session's budget), the whole budget and the time spent before, the decision log and
    the state kept for resuming."""

    cfg0: RunConfig
    prepared: Prepared
    clock: Budget
    total: float
    spent0: float
    members: int
    family: str
    partial: Path
    log: Any  # netrx.recipe.plan._Log: decide(step, rule, numbers, action)
    state: Any  # netrx.recipe.plan.State
    spent: Callable[[], float]
    #: progress events for a live view: {"event": "decision" | "verdict" | "trials" |
    #: "step_done", "step": ..., ...} (see :func:`netrx.recipe.plan.improve`)
    progress: Callable[[dict[str, Any]], None] = lambda event: None
    #: the baseline's learning-rate sweep: ``grid`` (K members on a log grid, the best on
    #: dev) or ``lr-find`` (a range test, then K seeds at its suggested rate)
    sweep: str = "grid"

    @property
    def kind(self) -> str | None:
        """The input kind (``table``, ``signal``, ``image`` or None), by
        :func:`~netrx.diagnose.prescriptions.input_kind`."""
        return input_kind(tuple(self.prepared.preprocessor.input_shape_),
                          tuple(self.prepared.dataset.columns))

    @property
    def families(self) -> tuple[str, ...]:
        pre = self.prepared.preprocessor
        return families_for(self.family, tuple(pre.input_shape_),
                            tuple(self.prepared.dataset.columns))

    def left_until(self, fraction: float) -> float:
        """Seconds from now until ``fraction`` of the whole budget has been spent."""
        return max(0.0, fraction * self.total - self.spent())
