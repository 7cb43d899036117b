"""The final step on small data when a cross-fit does not fit the time left: **refit on
every row**.

A cross-fit trains F batches of K members; when the time left holds less, the fallback
used to be K seeds on train, early-stopped on dev, which keeps the dev fifth of a small
table out of every final member (cars, 254 of 318 rows: R² 0.858 for the mean member on
the bench's test set against 0.875 with 308 rows). Instead, the config with the lower
honest estimate (:func:`netrx.recipe.estimate.paired`; the baseline's winner is always a
candidate) is trained once more as K fresh seeds on train ∪ dev for the epoch its
estimate's members were restored to (the median over folds and members of the epoch of
the lowest dev loss), without early stopping — in batches of K fresh seeds while the time
holds another (at most :data:`MAX_BATCHES`) — and its ensemble, the mean output of all the
members, is the predictor. There are no held-out rows left to judge it: its dev error is
the config's k-fold estimate, the mean member's (the ensemble of a convex loss is no
worse, Jensen's inequality). One fit of K on all rows costs about (F/(F − 1))× one fold."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from netrx.data.split import Split, Splits
from netrx.experiment.evaluate import member_errors
from netrx.experiment.prepared import Prepared
from netrx.population.merge import concat
from netrx.recipe.estimate import n_folds, paired, train_and_dev
from netrx.recipe.pool import MAX_BATCHES, Pool, concat_histories, final_config, holds_another
from netrx.recipe.steps import Context, fmt, single_config, train_population
from netrx.train.deadline import Budget

#: a refit is planned when the time left holds this many times its expected cost (which
#: is high already: the estimate's fold also ran its patience and a dev pass per epoch)
MARGIN = 1.0
#: batches of K seeds whose refit time the rounds leave the final on small data
#: (:func:`netrx.recipe.round.rounds_left`)
REFIT_BATCHES = 4
#: fewest epochs of a refit
MIN_EPOCHS = 5


def every_row(prepared: Prepared) -> Prepared:
    """``prepared`` whose training part is train ∪ dev and whose dev part is empty (the
    fitted preprocessing and the test part are kept)."""
    s = prepared.splits
    X, y = train_and_dev(prepared)
    empty = Split(s.dev.X[:0], s.dev.y[:0])
    return dataclasses.replace(prepared, splits=Splits(Split(X, y), empty, s.test))


def refit_epochs(current: dict[str, Any]) -> int:
    """The epochs of a refit: the estimate's median restored epoch (its epochs run for a
    state saved before the best epoch was kept), at least :data:`MIN_EPOCHS`."""
    epochs = current.get("best_epoch") or current.get("epochs_run") or MIN_EPOCHS
    return int(max(MIN_EPOCHS, epochs))


def refit_cost(ctx: Context, current: dict[str, Any]) -> float:
    """Expected seconds of a refit: one estimate fold (``seconds``, which ran
    ``epochs_run`` epochs on (F − 1)/F of the rows) scaled to all rows and the refit's
    epochs."""
    F = n_folds(ctx.prepared)
    per_epoch = float(current.get("seconds") or 0.0) / max(int(current.get("epochs_run") or 1), 1)
    return per_epoch * refit_epochs(current) * F / max(F - 1, 1)


def refit_plan(ctx: Context, current: dict[str, Any], base: dict[str, Any] | None,
               left: float) -> dict[str, Any] | None:
    """Which config to refit within ``left`` seconds, or None (no refit fits): the one with
    the lowest paired estimate (:func:`netrx.recipe.estimate.paired`) if its refit fits,
    else another whose estimate is within one standard error of that lowest (within the
    noise of the estimates, the config that can train on every row is preferred), else the
    lowest with fewer members: ``members`` = ⌊K·left / cost⌋ ≥ 2 (a slower machine costs
    members of the ensemble, each still trained on every row for its whole epochs)."""
    named = [("tuned" if base is not None else "chosen", current)]
    if base is not None:
        named.append(("baseline", base))
    errors = paired([c for _, c in named])
    order = sorted((i for i in range(len(named)) if errors[i] is not None),
                   key=lambda i: (errors[i], i))
    if not order:
        return None
    top = order[0]
    noise = float(named[top][1].get("dev_se") or 0.0)
    for i in order:
        name, c = named[i]
        if errors[i] <= errors[top] + noise and MARGIN * refit_cost(ctx, c) <= left:
            return {"name": name, "config": c, "error": errors[i], "named": named,
                    "errors": errors, "order": [i, *(j for j in order if j != i)],
                    "members": ctx.members}
    cost = MARGIN * refit_cost(ctx, named[top][1])
    members = int(ctx.members * left / cost) if cost > 0 else 0
    if members >= 2:
        name, c = named[top]
        return {"name": name, "config": c, "error": errors[top], "named": named,
                "errors": errors, "order": order, "members": members}
    return None


def refit_candidates(ctx: Context, plan: dict[str, Any], budget: Budget
                     ) -> list[dict[str, Any]]:
    """Refit the config of ``plan`` (:func:`refit_plan`) on every row; rows for the final
    table: the refit ensemble, and the other candidate's estimate (not refit, not chosen)."""
    named, errors, order = plan["named"], plan["errors"], plan["order"]
    name, chosen = plan["name"], plan["config"]
    epochs = refit_epochs(chosen)
    data = every_row(ctx.prepared)
    K = int(plan.get("members") or ctx.members)
    pops, histories, last, seconds = [], [], 0.0, 0.0
    # batches of K fresh seeds while the time holds another (measured by the last one)
    while len(pops) < MAX_BATCHES and (not pops or holds_another(budget.remaining, last)):
        cfg = single_config(final_config(ctx, chosen["config"], len(pops)),
                            **{"members": K, "train.epochs": epochs,
                               "train.early_stopping": None})
        t0 = time.monotonic()
        pop, history, _ = train_population(cfg, data, Budget(max(budget.remaining, 1.0)))
        last = time.monotonic() - t0
        seconds += last
        pops.append(pop)
        histories.append(history)
    pop = concat(pops) if len(pops) > 1 else pops[0]
    history = concat_histories(histories) if len(pops) > 1 else histories[0]
    cfg = single_config(cfg, members=pop.members, seed=int(pops[0].seeds[0]))
    rows = member_errors(pop, data, history)
    live = [r["member"] for r in rows if r["train_error"] is not None] or [0]
    ctx.log.decide("final", "refit on every row",
                   f"{name}: {len(pops)} batch(es) of {K} fresh seeds on train ∪ dev "
                   f"({len(data.splits.train.y)} rows), {len(history.logs)} of {epochs} epochs "
                   f"(its estimate's restored epoch) in {seconds:.0f} s; its k-fold estimate "
                   f"{fmt(plan['error'])}"
                   + ("" if order[0] == min(order, key=lambda i: (errors[i], i)) else
                      " (the lowest estimate's refit does not fit the time left; this one "
                      "is within one standard error of it)")
                   + ("" if K == ctx.members else f" ({K} of {ctx.members} members: the "
                      "time left holds no more)"),
                   f"an ensemble of {len(live)} members, each trained on every row")
    several = len(named) > 1
    prefix = (lambda n: f"{n} ") if several else (lambda n: "")
    pool = Pool(name, cfg, pop, history, rows, None, 0.0, seconds)
    table = [{"predictor": f"{prefix(name)}ensemble", "dev_error": plan["error"],
              "what": f"mean of {len(live)} members refit on every row, {epochs} epochs "
                      "(dev: the config's k-fold estimate, mean member)",
              "_pool": pool, "_member": live[0], "_members": live, "_prepared": data}]
    for i in order[1:]:
        other = named[i][0]
        table.append({"predictor": f"{prefix(other)}estimate", "dev_error": errors[i],
                      "what": f"{other}'s k-fold estimate (mean member; not refit)",
                      "_pool": None, "_member": 0, "_members": []})
    return table
