"""The steps of ``netrx improve`` before the final one: training without the test set,
the baseline (a log-scale learning-rate sweep per family), and a round (diagnose,
prescribe, tune, retrain the winner, compare on dev). See :mod:`netrx.recipe`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netrx.config import RunConfig, load_yaml, parse_config, set_path
from netrx.diagnose import Diagnosis, bias_variance, prescribe
from netrx.diagnose.prescriptions import (
    Prescription,
    bias_remedies,
    family_default,
    input_kind,
    variance_remedies,
)
from netrx.errors import DataError, unknown_choice
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
from netrx.train.losses import target_dtype

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


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


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


def as_tensors(part: Any, pop: Population, prepared: Prepared) -> tuple[torch.Tensor, torch.Tensor]:
    X = torch.as_tensor(np.asarray(part.X)).to(pop.device, pop.dtype)
    y = torch.as_tensor(np.asarray(part.y)).to(pop.device, target_dtype(prepared.objective))
    return X, y


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


def _diagnose(ctx: Context, step: str, current: dict[str, Any]) -> Diagnosis:
    s = ctx.prepared.splits
    sizes = {"n_train": len(s.train.y), "n_dev": len(s.dev.y)} \
        if ctx.prepared.dataset.task == "classification" else {}  # error rates: noise bands
    d = bias_variance(current["train_error"], current["dev_error"],
                      target_error=ctx.cfg0.data.target_error, **sizes)
    ctx.state.data["bias_variance"].append(
        {"step": step, "verdict": d.verdict, "avoidable_bias": d.avoidable_bias,
         "variance": d.variance, "mismatch": None})
    ctx.log.decide(step, "bias / variance verdict",
                   f"train {fmt(d.train_error)}, dev {fmt(d.dev_error)}, target "
                   f"{fmt(d.target_error)}: avoidable bias {d.avoidable_bias:+.4f} (limit "
                   f"{d.bias_limit:.4f}), variance {d.variance:+.4f} (limit "
                   f"{d.variance_limit:.4f})", d.verdict)
    return d


def search_space(prescriptions: list[Prescription], cfg: RunConfig) -> tuple[dict[str, str],
                                                                             int | None]:
    """The tune space of the prescriptions: ``choice(current, new, ...)`` for each changed
    path, or the prescribed search range where one is given. Changes the tuner cannot
    search are translated: ``train.epochs`` raises the trials' epoch cap (returned),
    ``model.channels`` of a residual family becomes ``model.width``; early stopping is
    left out (the pruner plays that role)."""
    from netrx.config import get_path
    from netrx.tune.space import Distribution

    options: dict[str, list[Any]] = {}
    ranges: dict[str, str] = {}
    max_epochs = None
    for p in prescriptions:
        ranges.update(p.search)
        for c in p.changes:
            path, value = c.path, c.value
            if path.startswith("train.early_stopping"):
                continue
            if path == "train.epochs":
                max_epochs = max(int(value), max_epochs or 0)
                continue
            if path == "model.channels" and cfg.model.family.startswith("resnet"):
                width = cfg.model.width or 32
                path, value = "model.width", 2 * width
            current = get_path(cfg, path)
            if current is None and path.startswith("model."):  # unset: the family's default
                current = family_default(cfg.model.family, path.removeprefix("model."))
            opts = options.setdefault(path, [current])
            if value not in opts:
                opts.append(value)
    space: dict[str, str] = {}
    for path, opts in options.items():
        if path in ranges or len(opts) < 2:
            continue
        space[path] = str(Distribution("choice", tuple(opts)))
    space.update(ranges)
    return space, max_epochs


def within_families(prescriptions: list[Prescription],
                    families: tuple[str, ...]) -> list[Prescription]:
    """The prescriptions whose ``model.family`` changes stay within ``families`` (a user's
    ``--family cnn1d`` is not overruled by the "different architecture" remedy)."""
    return [p for p in prescriptions
            if all(c.path != "model.family" or c.value in families for c in p.changes)]


def round_step(ctx: Context, step: str, current: dict[str, Any]) -> dict[str, Any]:
    """Steps 2–4 for one round: diagnose, prescribe, tune, retrain the winner, compare."""
    cfg = parse_config(current["config"])
    diag = _diagnose(ctx, step, current)
    outcome: dict[str, Any] = {"accepted": False, "verdict": diag.verdict}
    left = ctx.left_until(PLAN["baseline"] + PLAN["rounds"])
    gap = max(diag.avoidable_bias, diag.variance)
    if left < 2.0:
        ctx.log.decide(step, "budget spent", f"{left:.1f} s left for rounds",
                       "stop tuning; go to the final step")
    elif diag.verdict == "good" and gap <= 0:
        ctx.log.decide(step, "verdict good", f"dev {fmt(current['dev_error'])}, no gap left",
                       "stop tuning; go to the final step")
    else:
        pre = ctx.prepared.preprocessor
        kind = {"input_shape": tuple(pre.input_shape_),
                "columns": tuple(ctx.prepared.dataset.columns)}
        if diag.verdict == "good":  # within the limits, but the budget lasts: keep going
            larger = "bias" if diag.avoidable_bias >= diag.variance else "variance"
            ctx.log.decide(step, "verdict good, budget left",
                           f"avoidable bias {diag.avoidable_bias:+.4f}, variance "
                           f"{diag.variance:+.4f}; {left:.0f} s left for rounds",
                           f"work on the larger gap ({larger})")
            remedies = bias_remedies if larger == "bias" else variance_remedies
            prescriptions = remedies(cfg, **kind)
        else:
            prescriptions = prescribe(diag, cfg, **kind)
        prescriptions = within_families(prescriptions, ctx.families)
        space, max_epochs = search_space(prescriptions, cfg)
        if not space:
            ctx.log.decide(step, "nothing to search",
                           f"{len(prescriptions)} remedies, none a config change",
                           "stop tuning; go to the final step")
            ctx.state.complete(step, outcome, ctx.spent())
            return outcome
        ctx.log.decide(step, "basic recipe",
                       f"{diag.verdict} (avoidable bias {diag.avoidable_bias:+.4f}, variance "
                       f"{diag.variance:+.4f}): {len(prescriptions)} remedies: "
                       + "; ".join(f"{p.problem}: {p.remedy}" for p in prescriptions),
                       "search " + ", ".join(f"{k} ~ {v}" for k, v in space.items()))
        outcome.update(_tune(ctx, step, cfg, current, space, max_epochs, left))
    ctx.state.complete(step, outcome, ctx.spent())
    return outcome


def _tune(ctx: Context, step: str, cfg: RunConfig, current: dict[str, Any],
          space: dict[str, str], max_epochs: int | None, left: float) -> dict[str, Any]:
    from netrx.tune import tune

    # seconds per epoch of a population (K members cost about as much as one on small
    # data), measured on the fit that produced the current best
    per_epoch = max(current["seconds"], 1e-3) / max(current.get("epochs_run", 1), 1)
    epochs = int(max_epochs or cfg.train.epochs)
    if max_epochs and per_epoch * epochs > 0.5 * left:  # "train longer" within the round
        epochs = int(max(cfg.train.epochs, min(epochs, 0.5 * left / per_epoch)))
    per_trial = per_epoch * epochs  # a full (never pruned) wave of `slots` trials
    fit_trials = int(left * 0.8 / per_trial * ctx.members * 2)  # ASHA stops most early
    trials = int(min(MAX_TRIALS, max(ctx.members, fit_trials)))
    strategy = "coarse_to_fine" if trials >= 4 * ctx.members else "tpe"
    data = single_config(cfg, **{"train.epochs": epochs}).model_dump(mode="json")
    data["name"] = step
    data["search"] = {"space": space, "strategy": strategy, "trials": trials,
                      "seed": int(ctx.cfg0.seed) + int(step.removeprefix("round") or 0),
                      "slots": ctx.members, "pruner": "asha",
                      "min_epochs": max(1, epochs // ASHA_SPAN),
                      "max_epochs": epochs}
    # the sampler's seed differs between rounds: a round searching the space of the round
    # before (the same gap again) draws other points instead of repeating its trials
    data = ctx.state.remember(step, data)  # a resumed round continues the same study
    strategy, trials, epochs = (data["search"][k] for k in ("strategy", "trials", "max_epochs"))
    ctx.log.decide(step, "search plan", f"{left:.0f} s for this round, ≈{per_trial:.2f} s per "
                   f"wave of {ctx.members} full trials of {epochs} epochs",
                   f"{strategy}, {trials} trials, ASHA")
    tune_dir = ctx.partial / "tune"
    retrain = per_trial  # kept for retraining the winner (one member, full epochs)
    tuned = tune(data, budget=max(left - retrain, 0.6 * left, 1.0), name=step, out=str(tune_dir),
                 storage=f"sqlite:///{(tune_dir / f'{step}.db').resolve()}", study=step,
                 device=ctx.cfg0.device, write=True)
    best_yaml = tuned.run_dir / "best.yaml"
    if tuned.best is None or not best_yaml.is_file():
        ctx.log.decide(step, "no dev gain", "no trial completed within the round's budget",
                       f"keep the config of {current['step']}")
        return {"tune_dir": str(tuned.run_dir)}
    new_cfg = single_config(parse_config(load_yaml(best_yaml)), name=ctx.cfg0.name)
    # retrain the winner as K seeds for its trial's epochs, with early stopping (best
    # weights kept) as the baseline: the best of K members, measured like the dev error it
    # must beat (the baseline's is a best of K too), and its train error for the next verdict
    t0 = time.monotonic()
    patience = patience_for(new_cfg.train.epochs)
    refit = single_config(new_cfg, **{"train.early_stopping": {"patience": patience},
                                      "members": ctx.members})
    slot = max(ctx.left_until(PLAN["baseline"] + PLAN["rounds"]), retrain, 1.0)
    _, history, rows = train_population(refit, ctx.prepared, Budget(slot))
    row = best_row(rows)
    changed = {k: tuned.best.get("values", {}).get(k) for k in space}
    numbers = (f"trial {tuned.best['number']} of {len(tuned.study.trials)} (dev "
               f"{fmt(tuned.best['value'])}): "
               f"{', '.join(f'{k}={_short(v)}' for k, v in changed.items())}; retrained "
               f"as {ctx.members} seeds, best dev {fmt(row['dev_error'])} vs "
               f"{fmt(current['dev_error'])}")
    out: dict[str, Any] = {"tune_dir": str(tuned.run_dir), "trial_value": tuned.best["value"]}
    if row["dev_error"] is not None and row["dev_error"] < current["dev_error"]:
        ctx.log.decide(step, "dev gain", numbers, "keep the tuned config")
        out.update(accepted=True, current={
            "config": new_cfg.model_dump(mode="json"), "train_error": row["train_error"],
            "dev_error": row["dev_error"], "seconds": time.monotonic() - t0, "members": 1,
            "epochs_run": len(history.logs), "step": step})
    else:
        ctx.log.decide(step, "no dev gain", numbers, f"keep the config of {current['step']}; "
                       "stop tuning")
    return out

