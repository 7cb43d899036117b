"""Step 1 of ``netrx improve``: the baseline. Two kinds of candidates:

1. per family, a log-scale **learning-rate sweep** (K members, one learning rate each)
   of the starting config; the families compete on their sweeps' best members (each a
   best of K, biased alike), and the best one names a family and a learning rate;
2. on a table the MLP's, on a signal the cnn1d's **strong default**
   (:mod:`netrx.recipe.defaults`).

They are compared on an honest estimate (:mod:`netrx.recipe.estimate`: fresh seeds, the
mean over members, k-fold on small data), never on the sweep's own dev errors; the lowest
estimate becomes the current config and the baseline's winner, which the final step
always compares against. The strong default is the prior: a sweep winner displaces it
only when lower by more than one standard error of the difference (on a 2-minute budget
the estimates may have one fold each, and breast_cancer's sweep winner "won" by a
quarter of a dev row)."""

from __future__ import annotations

import time
from typing import Any

from netrx.config import RunConfig, parse_config
from netrx.recipe.defaults import DEFAULT_FAMILY, describe_default, strong_default
from netrx.recipe.estimate import (
    as_current,
    common_folds,
    describe,
    difference_se,
    estimate,
    paired,
)
from netrx.recipe.steps import (
    MAX_EPOCHS,
    PATIENCE,
    PLAN,
    Context,
    best_row,
    fmt,
    learning_rates,
    single_config,
    train_population,
)
from netrx.train.deadline import Budget

#: the sweeps' share (all families) of the baseline's time, with and without a strong
#: default. The estimates take the rest: the strong default's half of what the sweeps
#: left (those that stop early leave more), the sweep winner's what is left after it
SWEEPS_SHARE = {"with default": 0.4, "alone": 0.7}


def baseline_step(ctx: Context) -> dict[str, Any]:
    """Step 1: a learning-rate sweep per family and, where the input kind has one (a
    table, a signal) and its family is tried, the strong default; keep the lowest honest
    estimate."""
    fams = ctx.families
    shape = tuple(ctx.prepared.preprocessor.input_shape_)
    kind = ctx.kind or "unknown"
    default_family = DEFAULT_FAMILY.get(kind)
    if default_family not in fams:
        default_family = None
    ctx.log.decide("baseline", "families for the input kind",
                   f"input shape {shape}, kind {kind}, --family {ctx.family}",
                   f"try {', '.join(fams)}")
    total = max(ctx.left_until(PLAN["baseline"]), 3.0)
    clock = Budget(total)
    sweeps_share = SWEEPS_SHARE["with default" if default_family else "alone"]
    kept = (1.0 - sweeps_share) * total  # for the estimates
    sweeps = []
    for i, fam in enumerate(fams):  # time a sweep leaves (early stopping) goes to the next
        seconds = (clock.remaining - kept) / (len(fams) - i)
        sweeps.append(_sweep(ctx, fam, max(seconds, 1.0)))
    # families are compared on their sweeps' best members: each a best of K, biased alike
    sweep = min(sweeps, key=lambda r: (r["row"]["dev_error"], fams.index(r["family"])))
    if len(sweeps) > 1:
        ctx.log.decide("baseline", "lowest dev error of the sweeps",
                       ", ".join(f"{r['family']} {fmt(r['row']['dev_error'])}"
                                 for r in sweeps), f"{sweep['family']} α={sweep['lr']:.3g}")
    candidates: list[dict[str, Any]] = []
    if default_family:
        start = _family_config(ctx.cfg0, default_family)
        strong = strong_default(start, family=default_family, task=ctx.prepared.task,
                                n_train=ctx.prepared.n_train, kind=kind)
        est = _estimate(ctx, strong, f"baseline/{default_family}/default",
                        clock.remaining / 2)
        ctx.log.decide("baseline", "strong default", f"{describe_default(strong)}: "
                       f"{describe(est)}", f"{default_family} default candidate")
        candidates.append({"name": f"{default_family} strong default", "config": strong,
                           "estimate": est, "default": True})
        best = sweep["row"]["dev_error"]
        if est["dev_error"] is not None and best is not None and est["dev_error"] <= best:
            # the sweep's best-of-K, biased low, is already worse: no estimate needed
            ctx.log.decide("baseline", "sweep beaten", f"strong default "
                           f"{fmt(est['dev_error'])} ≤ the sweep's best member "
                           f"{fmt(best)}", "drop the sweep candidate")
            sweep = None
    if sweep is not None:
        est = _estimate(ctx, sweep["config"], f"baseline/{sweep['family']}/sweep",
                        clock.remaining)
        ctx.log.decide("baseline", "sweep winner re-estimated",
                       f"{sweep['family']} α={sweep['lr']:.3g}: {describe(est)}",
                       f"{sweep['family']} sweep candidate")
        candidates.append({"name": f"{sweep['family']} α={sweep['lr']:.3g}",
                           "config": sweep["config"], "estimate": est})
    # compared on the folds every estimate has (the clock may have cut one to fewer)
    errors = paired([c["estimate"] for c in candidates])
    ranked = [(c, e) for c, e in zip(candidates, errors, strict=True) if e is not None]
    if not ranked:
        best_row([])  # raises: every member diverged
    win, low = min(ranked, key=lambda ce: ce[1])
    folds = {len(c["estimate"].get("fold_dev") or ()) for c, _ in ranked}
    n = common_folds([c["estimate"] for c, _ in ranked])
    where = f" (on the {n} fold(s) every estimate has)" if len(folds) > 1 else ""
    numbers = "; ".join(f"{c['name']} {fmt(e)}" for c, e in ranked) + where
    rule = "lowest honest dev estimate"
    default = next(((c, e) for c, e in ranked if c.get("default")), None)
    if default is not None and win is not default[0]:
        se = difference_se(default[0]["estimate"], win["estimate"])
        if default[1] - low <= se:
            rule = "within the noise of the strong default"
            numbers += (f": {win['name']} is lower by {fmt(default[1] - low)}, not more "
                        f"than one standard error of the difference ({fmt(se)})")
            win = default[0]
    ctx.log.decide("baseline", rule, numbers, f"keep {win['name']}")
    e = win["estimate"]
    current = as_current(e, win["config"].model_dump(mode="json"), ctx.members, "baseline",
                         candidate=win["name"])
    ctx.state.data["baseline_winner"] = current
    ctx.state.complete("baseline", current, ctx.spent())
    return current


def _sweep(ctx: Context, fam: str, seconds: float) -> dict[str, Any]:
    """K members of the family's starting config, learning rates on a log scale (or, with
    ``--sweep lr-find``, at the range test's suggestion)."""
    start = _family_config(ctx.cfg0, fam)
    if ctx.sweep == "lr-find":
        return _lr_find_sweep(ctx, fam, start, seconds)
    lrs = learning_rates(ctx.members)
    data = start.model_dump(mode="json")
    data.update(members=ctx.members)
    data["optimizer"]["lr"] = lrs
    data["train"]["epochs"] = MAX_EPOCHS
    data["train"]["early_stopping"] = {"patience": PATIENCE}
    t0 = time.monotonic()
    _, history, rows = train_population(parse_config(data), ctx.prepared, Budget(seconds))
    best = best_row(rows)
    lr = lrs[best["member"]]
    epochs = int(min(MAX_EPOCHS, max(5, len(history.logs))))
    ctx.log.decide("baseline", "learning-rate sweep on a log scale",
                   f"{fam}: α in {lrs[0]:g}…{lrs[-1]:g} ({len(lrs)} members, "
                   f"{len(history.logs)} epochs, {time.monotonic() - t0:.1f} s); best "
                   f"α={lr:.3g}: train {fmt(best['train_error'])}, dev "
                   f"{fmt(best['dev_error'])} (a best of {len(lrs)}: biased low)",
                   f"{fam} candidate")
    cfg = single_config(start, **{"optimizer.lr": lr, "train.epochs": epochs,
                                  "train.early_stopping": None})
    return {"family": fam, "row": best, "lr": lr, "config": cfg}


def _lr_find_sweep(ctx: Context, fam: str, start: RunConfig, seconds: float) -> dict[str, Any]:
    """The range test (:mod:`netrx.diagnose.lr_find`, 3K rates from 10⁻⁵ to 1, 100 steps)
    names α* = α_min/3; then K seeds at α* train with early stopping, like a sweep."""
    from netrx.diagnose.lr_find import lr_find

    t0 = time.monotonic()
    found = lr_find(start, ctx.prepared, lo=1e-5, hi=1.0, members=3 * ctx.members,
                    steps=100, seconds=0.3 * seconds)
    lr = found.suggestion or float(start.optimizer.lr if not isinstance(
        start.optimizer.lr, list) else start.optimizer.lr[0])
    ctx.log.decide("baseline", "learning-rate range test",
                   f"{fam}: {len(found.lrs)} rates in {found.lrs[0]:g}…{found.lrs[-1]:g}, "
                   f"{found.steps} steps: {found.rule}", f"α={lr:.3g}")
    data = start.model_dump(mode="json")
    data.update(members=ctx.members)
    data["optimizer"]["lr"] = lr
    data["train"]["epochs"] = MAX_EPOCHS
    data["train"]["early_stopping"] = {"patience": PATIENCE}
    left = max(seconds - (time.monotonic() - t0), 1.0)
    _, history, rows = train_population(parse_config(data), ctx.prepared, Budget(left))
    best = best_row(rows)
    epochs = int(min(MAX_EPOCHS, max(5, len(history.logs))))
    ctx.log.decide("baseline", "seeds at the suggested rate",
                   f"{fam}: α={lr:.3g}, {ctx.members} seeds, {len(history.logs)} epochs; "
                   f"best: train {fmt(best['train_error'])}, dev {fmt(best['dev_error'])} "
                   f"(a best of {ctx.members}: biased low)", f"{fam} candidate")
    cfg = single_config(start, **{"optimizer.lr": lr, "train.epochs": epochs,
                                  "train.early_stopping": None})
    return {"family": fam, "row": best, "lr": lr, "config": cfg}


def _estimate(ctx: Context, cfg: RunConfig, label: str, seconds: float) -> dict[str, Any]:
    return estimate(cfg, ctx.prepared, members=ctx.members, seed=int(ctx.cfg0.seed),
                    label=label, seconds=max(seconds, 1.0))


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
