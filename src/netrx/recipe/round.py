"""A round of ``netrx improve`` (steps 2–4): diagnose the current config, turn the basic
recipe's prescriptions into a search space, tune it, estimate the winner afresh
(:mod:`netrx.recipe.estimate`) and keep it on a gain in the estimate. A "good" verdict
stops the search. A round that is short of time runs shorter trials rather than none.
See :mod:`netrx.recipe.plan`."""

from __future__ import annotations

from typing import Any

from netrx.config import RunConfig, parse_config
from netrx.diagnose import Diagnosis, bias_variance, prescribe
from netrx.diagnose.prescriptions import Prescription, family_default
from netrx.recipe.estimate import as_current, common_folds, describe, estimate, n_folds, paired
from netrx.recipe.refit import MARGIN, REFIT_BATCHES, refit_cost
from netrx.recipe.steps import (
    ASHA_SPAN,
    MAX_TRIALS,
    PLAN,
    RESERVE,
    Context,
    fmt,
    single_config,
    with_epochs,
)

FULL_TRIAL_SHARE = 0.4  # at most this share of a round for one full trial and its estimate
MIN_EPOCHS = 5  # a trial shorter than this (or an eighth of the planned epochs) is not run


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


def rounds_left(ctx: Context, current: dict[str, Any]) -> float:
    """Seconds left for the rounds.

    - Larger data: until the plan's share for baseline and rounds is spent; the final
      step's batches of K seeds take the rest.
    - A small table (the k-fold regime, named columns) whose refit on every row is cheap
      — :data:`~netrx.recipe.refit.REFIT_BATCHES` batches of the current config
      (:func:`~netrx.recipe.refit.refit_cost`, with its margin) fit in the plan's share
      for the final: until only the time of those batches (and the reserve) is left,
      beyond the plan's share. Such a refit costs seconds, and its members train on every
      row where a cross-fit's train on 4 of 5 folds (cars: the mean member's test R²
      0.875 on 308 rows, 0.858 on 254); the plan's fixed 20 % for the final left most of
      it unspent (cars: 12 s of a 20 s final, 107 s of a 120 s budget). A round that
      stops early (the target met, a round too short) still leaves the final its time,
      and a cross-fit when it fits.
    - Other small data: the plan's share, and no later than the final can still refit
      the current config once. A round's winner can cost far more than the config it
      started from: on MNIST-1D the baseline's MLP refit cheaply, the extension gave
      round 1 830 s of 900, its winner (2 × 200, augmented, 384 epochs) had no time left
      for a refit, and test accuracy fell from 90.4 % to 52 %.
    """
    left = ctx.left_until(PLAN["baseline"] + PLAN["rounds"])
    if n_folds(ctx.prepared) > 1:
        refit = MARGIN * refit_cost(ctx, current)
        if ctx.kind == "table" and REFIT_BATCHES * refit <= PLAN["final"] * ctx.total:
            return max(ctx.clock.remaining - RESERVE * ctx.total - REFIT_BATCHES * refit, 0.0)
        left = min(left, ctx.clock.remaining - RESERVE * ctx.total - refit)
    return max(left, 0.0)


def round_step(ctx: Context, step: str, current: dict[str, Any]) -> dict[str, Any]:
    """Steps 2–4 for one round: diagnose, prescribe, tune, estimate the winner, compare.
    ``stop`` in the outcome says that a rule ended the search (a round that only found no
    gain leaves it False: the plan may try another round)."""
    cfg = parse_config(current["config"])
    diag = _diagnose(ctx, step, current)
    outcome: dict[str, Any] = {"accepted": False, "stop": True, "verdict": diag.verdict}
    left = rounds_left(ctx, current)
    if left < 2.0:
        ctx.log.decide(step, "budget spent", f"{left:.1f} s left for rounds",
                       "stop tuning; go to the final step")
    elif current["dev_error"] <= diag.target_error:  # no search can beat it on dev
        ctx.log.decide(step, "dev at the target", f"dev {fmt(current['dev_error'])} ≤ target "
                       f"{fmt(diag.target_error)}", "stop tuning; go to the final step")
    elif diag.verdict == "good":
        ctx.log.decide(step, "verdict good at the target",
                       f"avoidable bias {diag.avoidable_bias:+.4f} ≤ {diag.bias_limit:.4f}, "
                       f"variance {diag.variance:+.4f} ≤ {diag.variance_limit:.4f}",
                       "stop tuning; go to the final step")
    else:
        pre = ctx.prepared.preprocessor
        kind = {"input_shape": tuple(pre.input_shape_),
                "columns": tuple(ctx.prepared.dataset.columns)}
        prescriptions = within_families(prescribe(diag, cfg, **kind), ctx.families)
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
    # data), measured on the fit that produced the current estimate
    per_epoch = max(current["seconds"], 1e-3) / max(current.get("epochs_run", 1), 1)
    folds = n_folds(ctx.prepared)
    epochs = int(max_epochs or cfg.train.epochs)
    if max_epochs and per_epoch * epochs > left / 3:  # "train longer" within the round
        epochs = int(max(cfg.train.epochs, min(epochs, left / 3 / per_epoch)))
    intended = epochs  # the trials' schedule spans these, even when the time cuts them
    # a full trial, then the winner's estimate (``folds`` fits), must fit in the round
    fit = int(FULL_TRIAL_SHARE * left / (per_epoch * (1 + folds)))
    if fit < epochs:
        if fit < max(MIN_EPOCHS, epochs // 8):
            ctx.log.decide(step, "round too short", f"{left:.0f} s left for rounds; a trial "
                           f"of {MIN_EPOCHS} epochs and its estimate take ≈"
                           f"{per_epoch * MIN_EPOCHS * (1 + folds):.0f} s",
                           "stop tuning; go to the final step")
            return {}
        ctx.log.decide(step, "round short", f"{left:.0f} s left for rounds; {epochs} epochs "
                       f"of ≈{per_epoch:.2f} s and the winner's estimate do not fit",
                       f"trials of {fit} epochs")
        epochs = fit
    per_trial = per_epoch * epochs  # a full (never pruned) wave of `slots` trials
    fit_trials = int(left * 0.8 / per_trial * ctx.members * 2)  # ASHA stops most early
    trials = int(min(MAX_TRIALS, max(ctx.members, fit_trials)))
    strategy = "coarse_to_fine" if trials >= 4 * ctx.members else "tpe"
    # a trial the round's time shortens is cut, its schedule kept over the intended epochs:
    # on cnn1d's default a cosine over 200 stopped at 79 epochs ends at dev 0.960 (mean
    # member), one over 100 stopped there at 0.953, one annealed over the 79 at 0.946
    # (python bench/signal_default.py, the default+79ep variants)
    data = single_config(with_epochs(cfg, intended), **{"train.epochs": epochs}
                         ).model_dump(mode="json")
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
    retrain = per_epoch * epochs * folds  # kept for the winner's estimate

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
        return {"tune_dir": str(tuned.run_dir), "stop": False}
    new_cfg = single_config(tuned.best_config, name=ctx.cfg0.name)
    # the winner was chosen on its trial's dev error: estimate it afresh (new seeds, the
    # mean over members, k-fold on small data), as the current config's estimate was
    slot = max(ctx.left_until(PLAN["baseline"] + PLAN["rounds"]), retrain, 1.0)
    est = estimate(new_cfg, ctx.prepared, members=ctx.members, seed=int(ctx.cfg0.seed),
                   label=step, seconds=slot)
    changed = {k: tuned.best.get("values", {}).get(k) for k in space}
    numbers = (f"trial {tuned.best['number']} of {len(tuned.study.trials)} (dev "
               f"{fmt(tuned.best['value'])}): "
               f"{', '.join(f'{k}={_short(v)}' for k, v in changed.items())}; estimated "
               f"{describe(est)} vs {fmt(current['dev_error'])}")
    out: dict[str, Any] = {"tune_dir": str(tuned.run_dir), "trial_value": tuned.best["value"],
                           "stop": False}
    # compared on the folds both estimates have (the clock may have cut one to fewer)
    new, old = paired([est, current])
    n_new, n_old = len(est.get("fold_dev") or ()), len(current.get("fold_dev") or ())
    n = common_folds([est, current])
    if est["dev_error"] is not None and n_new != n_old and n:
        numbers += f"; on the {n} fold(s) both have: {fmt(new)} vs {fmt(old)}"
    if new is not None and old is not None and new < old:
        ctx.log.decide(step, "dev gain", numbers, "keep the tuned config")
        out.update(accepted=True, current=as_current(est, new_cfg.model_dump(mode="json"),
                                                     ctx.members, step))
    else:
        ctx.log.decide(step, "no dev gain", numbers, f"keep the config of {current['step']}")
    return out
