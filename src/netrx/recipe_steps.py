"""What every step of ``netrx improve`` shares (the time plan, training without the test
set, the context of a run) and step 1, the baseline (a log-scale learning-rate sweep per
family). A round is in :mod:`netrx.recipe_round`, the final step in
:mod:`netrx.recipe_final`. See :mod:`netrx.recipe`."""

from __future__ import annotations

import math
import time
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
from netrx.evaluation import as_tensors
from netrx.experiment import (
    Prepared,
    build_optimizer_for,
    build_population,
    callbacks_for,
    regularizers_for,
)
from netrx.population import Population
from netrx.train import History, evaluate, fit
from netrx.train.deadline import Budget, Deadline

FAMILIES_BY_KIND = {"table": ("mlp",), "signal": ("mlp", "cnn1d", "resnet1d"),
                    "image": ("mlp", "cnn2d", "resnet2d")}
FAMILY_CHOICES = ("auto", "mlp", "cnn1d", "cnn2d", "resnet1d", "resnet2d")
#: fractions of the budget: baseline, tuning rounds, final (the final gets the rest)
PLAN = {"baseline": 0.2, "rounds": 0.6, "final": 0.2}
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
    if family not in FAMILY_CHOICES:
        raise unknown_choice("family", family, FAMILY_CHOICES)
    if family != "auto":
        return (family,)
    return FAMILIES_BY_KIND.get(input_kind(input_shape, columns) or "", ("mlp",))


def patience_for(epochs: int) -> int:
    """Early-stopping patience for a fit of ``epochs`` epochs: max(10, epochs / 4). A fixed
    10 stops augmented or strongly regularized training, whose dev error falls slowly and
    noisily, long before the epochs its tuning trial ran."""
    return max(PATIENCE, int(epochs) // 4)


def fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}"


# -- training without the test set ------------------------------------------------------


def train_population(cfg: RunConfig, prepared: Prepared, budget: Budget,
                     extra: list[Any] | None = None) -> tuple[Population, History,
                                                              list[dict[str, Any]]]:
    """Fit ``cfg`` (its ``members``) on train with early stopping on dev and a deadline;
    return the population, its history and per-member train / dev errors (no test)."""
    pop = build_population(cfg, prepared)
    optimizer, lr = build_optimizer_for(cfg, pop, n_train=len(prepared.splits.train.y))
    reg = regularizers_for(cfg, prepared, pop, lr)
    callbacks = reg.pop("callbacks") + callbacks_for(cfg) + [Deadline(budget)] + (extra or [])
    s = prepared.splits
    history = fit(pop, s.train, s.dev, optimizer=optimizer, epochs=cfg.train.epochs,
                  batch_size=cfg.train.batch_size, callbacks=callbacks, progress=False,
                  task=prepared.dataset.task, lr=lr, **reg)
    return pop, history, member_errors(pop, prepared, history)


def member_errors(pop: Population, prepared: Prepared,
                  history: History | None = None) -> list[dict[str, Any]]:
    """Eval-mode train / dev loss and error per member (None for a diverged member)."""
    status = (history.final_status() if history is not None else []) or \
        ["training"] * pop.members
    cols: dict[str, np.ndarray] = {}
    for name, part in (("train", prepared.splits.train), ("dev", prepared.splits.dev)):
        loss, err = evaluate(pop, *as_tensors(part, pop, prepared), prepared.objective)
        cols[f"{name}_loss"] = loss.double().cpu().numpy()
        cols[f"{name}_error"] = err.double().cpu().numpy()
    rows = []
    for k in range(pop.members):
        row: dict[str, Any] = {"member": k, "seed": pop.seeds[k], "status": status[k]}
        for key, values in cols.items():
            v = float(values[k])
            row[key] = v if math.isfinite(v) and status[k] != "diverged" else None
        rows.append(row)
    return rows


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
    log: Any  # netrx.recipe._Log: decide(step, rule, numbers, action)
    state: Any  # netrx.recipe.State
    spent: Callable[[], float]

    @property
    def families(self) -> tuple[str, ...]:
        pre = self.prepared.preprocessor
        return families_for(self.family, tuple(pre.input_shape_),
                            tuple(self.prepared.dataset.columns))

    def left_until(self, fraction: float) -> float:
        """Seconds from now until ``fraction`` of the whole budget has been spent."""
        return max(0.0, fraction * self.total - self.spent())


def baseline_step(ctx: Context) -> dict[str, Any]:
    """Step 1: a log-scale learning-rate sweep per family; keep the best member on dev."""
    fams = ctx.families
    kind = input_kind(tuple(ctx.prepared.preprocessor.input_shape_),
                      tuple(ctx.prepared.dataset.columns)) or "unknown"
    ctx.log.decide("baseline", "families for the input kind",
                   f"input shape {tuple(ctx.prepared.preprocessor.input_shape_)}, kind {kind}, "
                   f"--family {ctx.family}", f"try {', '.join(fams)}")
    lrs = learning_rates(ctx.members)
    results = []
    for i, fam in enumerate(fams):
        left = ctx.left_until(PLAN["baseline"]) / (len(fams) - i)
        cfg = _family_config(ctx.cfg0, fam)
        data = cfg.model_dump(mode="json")
        data.update(members=ctx.members)
        data["optimizer"]["lr"] = lrs
        data["train"]["epochs"] = MAX_EPOCHS
        data["train"]["early_stopping"] = {"patience": PATIENCE}
        cfg = parse_config(data)
        t0 = time.monotonic()
        pop, history, rows = train_population(cfg, ctx.prepared, Budget(max(left, 1.0)))
        best = best_row(rows)
        results.append({"family": fam, "config": cfg, "row": best, "lr": lrs[best["member"]],
                        "epochs": len(history.logs), "seconds": time.monotonic() - t0})
        ctx.log.decide("baseline", "learning-rate sweep on a log scale",
                       f"{fam}: α in {lrs[0]:g}…{lrs[-1]:g} ({len(lrs)} members, "
                       f"{len(history.logs)} epochs); best α={lrs[best['member']]:.3g}: train "
                       f"{fmt(best['train_error'])}, dev {fmt(best['dev_error'])}",
                       f"{fam} candidate")
    win = min(results, key=lambda r: (r["row"]["dev_error"], fams.index(r["family"])))
    ctx.log.decide("baseline", "lowest dev error",
                   ", ".join(f"{r['family']} {fmt(r['row']['dev_error'])}" for r in results),
                   f"keep {win['family']} with α={win['lr']:.3g}")
    epochs = int(min(MAX_EPOCHS, max(5, win["epochs"])))
    cfg = single_config(win["config"], **{"optimizer.lr": win["lr"], "train.epochs": epochs,
                                    "train.early_stopping": None})
    current = {"config": cfg.model_dump(mode="json"), "train_error": win["row"]["train_error"],
               "dev_error": win["row"]["dev_error"], "seconds": win["seconds"],
               "epochs_run": win["epochs"],
               "members": ctx.members, "step": "baseline"}
    ctx.state.complete("baseline", current, ctx.spent())
    return current


def _family_config(cfg: RunConfig, family: str) -> RunConfig:
    """``cfg`` with ``family`` and the family's default architecture (a YAML config's own
    architecture is kept for its own family)."""
    if cfg.model.family == family:
        return cfg
    data = cfg.model_dump(mode="json")
    data["model"] = {k: v for k, v in data["model"].items()
                     if k not in ("hidden", "channels", "width", "depth", "batch_norm")}
    data["model"]["family"] = family
    return parse_config(data)
