"""Step 1 of ``netrx improve``: the baseline. For each family, two candidates:

1. a log-scale **learning-rate sweep** (K members, one learning rate each) of the
   starting config, whose best member on dev names a learning rate;
2. the family's **strong default** (:mod:`netrx.recipe.defaults`).

Both are compared on an honest estimate (:mod:`netrx.recipe.estimate`: fresh seeds, the
mean over members, k-fold on small data), never on the sweep's own dev errors; the lowest
estimate becomes the current config and the baseline's winner, which the final step
always compares against."""

from __future__ import annotations

import time
from typing import Any

from netrx.config import RunConfig, parse_config
from netrx.diagnose.prescriptions import input_kind
from netrx.recipe.defaults import strong_default
from netrx.recipe.estimate import describe, estimate
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

#: shares of a family's baseline time: the sweep, the strong default's estimate, the
#: sweep winner's estimate
SHARES = (0.4, 0.3, 0.3)


def baseline_step(ctx: Context) -> dict[str, Any]:
    """Step 1: per family a learning-rate sweep and the strong default; keep the lowest
    honest estimate."""
    fams = ctx.families
    shape = tuple(ctx.prepared.preprocessor.input_shape_)
    kind = input_kind(shape, tuple(ctx.prepared.dataset.columns)) or "unknown"
    ctx.log.decide("baseline", "families for the input kind",
                   f"input shape {shape}, kind {kind}, --family {ctx.family}",
                   f"try {', '.join(fams)}")
    candidates: list[dict[str, Any]] = []
    for i, fam in enumerate(fams):
        share = max(ctx.left_until(PLAN["baseline"]) / (len(fams) - i), 3.0)
        candidates += _family(ctx, fam, share, table=kind == "table")
    ranked = [c for c in candidates if c["estimate"]["dev_error"] is not None]
    if not ranked:
        best_row([])  # raises: every member diverged
    win = min(ranked, key=lambda c: c["estimate"]["dev_error"])
    ctx.log.decide("baseline", "lowest honest dev estimate",
                   "; ".join(f"{c['name']} {fmt(c['estimate']['dev_error'])}" for c in ranked),
                   f"keep {win['name']}")
    e = win["estimate"]
    current = {"config": win["config"].model_dump(mode="json"), "train_error": e["train_error"],
               "dev_error": e["dev_error"], "dev_se": e["dev_se"], "seconds": e["seconds"],
               "epochs_run": e["epochs_run"], "members": ctx.members, "step": "baseline",
               "candidate": win["name"]}
    ctx.state.data["baseline_winner"] = current
    ctx.state.complete("baseline", current, ctx.spent())
    return current


def _family(ctx: Context, fam: str, share: float, *, table: bool) -> list[dict[str, Any]]:
    """The sweep and the strong default of one family, each with its estimate."""
    clock = Budget(share)
    start = _family_config(ctx.cfg0, fam)
    lrs = learning_rates(ctx.members)
    data = start.model_dump(mode="json")
    data.update(members=ctx.members)
    data["optimizer"]["lr"] = lrs
    data["train"]["epochs"] = MAX_EPOCHS
    data["train"]["early_stopping"] = {"patience": PATIENCE}
    t0 = time.monotonic()
    _, history, rows = train_population(parse_config(data), ctx.prepared,
                                        Budget(max(SHARES[0] * share, 1.0)))
    best = best_row(rows)
    lr = lrs[best["member"]]
    epochs = int(min(MAX_EPOCHS, max(5, len(history.logs))))
    swept = single_config(start, **{"optimizer.lr": lr, "train.epochs": epochs,
                                    "train.early_stopping": None})
    ctx.log.decide("baseline", "learning-rate sweep on a log scale",
                   f"{fam}: α in {lrs[0]:g}…{lrs[-1]:g} ({len(lrs)} members, "
                   f"{len(history.logs)} epochs, {time.monotonic() - t0:.1f} s); best "
                   f"α={lr:.3g}: train {fmt(best['train_error'])}, dev "
                   f"{fmt(best['dev_error'])} (a best of {len(lrs)}: biased low)",
                   f"{fam} sweep candidate")
    strong = strong_default(start, family=fam, task=ctx.prepared.task,
                            n_train=ctx.prepared.n_train, table=table)
    est_strong = _estimate(ctx, strong, f"baseline/{fam}/default",
                           min(clock.remaining, SHARES[1] * share))
    out = [{"name": f"{fam} strong default", "config": strong, "estimate": est_strong}]
    ctx.log.decide("baseline", "strong default", f"{fam}: AdamW, cosine, "
                   f"{'label smoothing, ' if ctx.prepared.task == 'classification' else ''}"
                   f"{strong.train.epochs} epochs: {describe(est_strong)}",
                   f"{fam} default candidate")
    beaten = est_strong["dev_error"] is not None and best["dev_error"] is not None and \
        est_strong["dev_error"] <= best["dev_error"]
    if beaten:  # the sweep's best-of-K, biased low, is already worse: no estimate needed
        ctx.log.decide("baseline", "sweep beaten", f"{fam}: strong default "
                       f"{fmt(est_strong['dev_error'])} ≤ the sweep's best member "
                       f"{fmt(best['dev_error'])}", "drop the sweep candidate")
        return out
    est_swept = _estimate(ctx, swept, f"baseline/{fam}/sweep", clock.remaining)
    ctx.log.decide("baseline", "sweep winner re-estimated",
                   f"{fam} α={lr:.3g}: {describe(est_swept)}", f"{fam} sweep candidate")
    return [*out, {"name": f"{fam} α={lr:.3g}", "config": swept, "estimate": est_swept}]


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
