"""A round of ``netrx improve`` (steps 2–4): diagnose the current best, turn the basic
recipe's prescriptions into a search space, tune it, retrain the winner as K seeds and
keep it on a dev gain. See :mod:`netrx.recipe.plan`."""

from __future__ import annotations

import time
from typing import Any

from netrx.config import RunConfig, parse_config
from netrx.diagnose import Diagnosis, bias_variance, prescribe
from netrx.diagnose.prescriptions import (
    Prescription,
    bias_remedies,
    family_default,
    variance_remedies,
)
from netrx.recipe.steps import (
    ASHA_SPAN,
    MAX_TRIALS,
    PLAN,
    Context,
    best_row,
    fmt,
    patience_for,
    single_config,
    train_population,
)
from netrx.train.deadline import Budget

FULL_TRIAL_SHARE = 0.4  # at most this share of a round for one full trial: tune, then retrain


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _diagnose(ctx: Context, step: str, current: dict[str, Any]) -> Diagnosis:
    s = ctx.prepared.splits
    sizes = {"n_train": len(s.train.y), "n_dev": len(s.dev.y)} \
        if ctx.prepared.dataset.task == "classification" else {}  # error rates: noise bands
    d = bias_variance(current["train_error"], current["dev_error"],
                      target_error=ctx.cfg0.data.target_error, **sizes)
    ctx.state.data["bias_variance"].append(
        {"step": step, "verdict": d.verdict, "avoidable_bias": d.avoidable_bias,
         "variance": d.variance, "mismatch": None})
    ctx.progress({"event": "verdict", "step": step, "verdict": d.verdict})
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
    from netrx.tune.distributions import Distribution

    options: dict[str, list[Any]] = {}
    ranges: dict[str, str] = {}
    max_epochs = None
    for p in prescriptions:
        for path, text in p.search.items():
            ranges[path] = _hull(ranges[path], text) if path in ranges else text
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


def _hull(a: str, b: str) -> str:
    """Two prescribed ranges for one path (high bias and high variance together: "less
    L2" below λ, "more L2" above it): one range that holds both when they are of one
    continuous kind, else the later one."""
    from netrx.tune.distributions import Distribution, parse_distribution

    da, db = parse_distribution(a), parse_distribution(b)
    if da.kind != db.kind or da.kind not in ("log_uniform", "uniform"):
        return b
    return str(Distribution(da.kind, (min(da.args[0], db.args[0]),
                                      max(da.args[1], db.args[1]))))


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
    elif current["dev_error"] <= diag.target_error:  # no search can beat it on dev
        ctx.log.decide(step, "dev at the target", f"dev {fmt(current['dev_error'])} ≤ target "
                       f"{fmt(diag.target_error)}", "stop tuning; go to the final step")
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
    if max_epochs and per_epoch * epochs > left / 3:  # "train longer" within the round
        epochs = int(max(cfg.train.epochs, min(epochs, left / 3 / per_epoch)))
    per_trial = per_epoch * epochs  # a full (never pruned) wave of `slots` trials
    if per_trial > FULL_TRIAL_SHARE * left:
        # the first trial completes after ≈ one full trial's time and its winner's
        # retraining takes as long: a shorter round cannot finish anything
        ctx.log.decide(step, "round too short", f"{left:.0f} s left for rounds; a full trial "
                       f"of {epochs} epochs takes ≈{per_trial:.0f} s, and its retraining as "
                       "long", "stop tuning; go to the final step")
        return {}
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
    def on_epoch(engine: Any) -> None:  # trials of this round, for a live view
        ended = [f.state for f in engine.finished]
        values = [f.value for f in engine.finished if f.state == "COMPLETE" and f.value is not None]
        ctx.progress({"event": "trials", "step": step, "complete": ended.count("COMPLETE"),
                      "pruned": ended.count("PRUNED"), "planned": trials,
                      "running": sum(r is not None for r in engine.slots),
                      "best": min(values) if values else None})

    tuned = tune(data, budget=max(left - retrain, 0.6 * left, 1.0), name=step, out=str(tune_dir),
                 storage=f"sqlite:///{(tune_dir / f'{step}.db').resolve()}", study=step,
                 device=ctx.cfg0.device, write=True, prepared=ctx.prepared, on_epoch=on_epoch)
    if tuned.best is None or tuned.best_config is None:
        ctx.log.decide(step, "no dev gain", "no trial completed within the round's budget",
                       f"keep the config of {current['step']}")
        return {"tune_dir": str(tuned.run_dir)}
    new_cfg = single_config(tuned.best_config, name=ctx.cfg0.name)
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

