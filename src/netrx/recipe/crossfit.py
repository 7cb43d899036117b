"""The final step on small data: a **cross-fit ensemble** (k-fold bagging).

Holding out a fixed dev set costs a small table a fifth of its training rows. Here the
final members use them all: train ∪ dev is cut into the estimate's F folds
(:func:`netrx.recipe.estimate.folds`) and batch b, fold f trains K members on the other
folds, early-stopped on fold f. Every row is then predicted by the members that never
trained on it, so the ensemble has an honest **out-of-fold** dev error:

    ê_oof = Σ_f n_f·err(p̄_f, y_f) / Σ_f n_f,   p̄_f = mean over fold f's members of p(x)

(p the probabilities, or the predictions for regression). A single member is judged by
the mean of the members' own fold errors. Batches of fresh seeds repeat while the time
holds another; the last takes the members the time left holds, ⌊K·left / (1.2·t_batch)⌋
≥ 2 per fold, rather than leave it unspent (breast_cancer: a third batch of 38 s did not
fit the 25 s left, and improve ended at 92 s of 120). Every member joins one population,
whose mean prediction is the predictor (each member has seen about (F − 1)/F of train ∪
dev), and p̄_f above is the mean over all of fold f's members."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from netrx.ensemble import average_outputs, ensemble_error
from netrx.experiment.evaluate import as_tensors, member_errors
from netrx.population.merge import concat
from netrx.recipe.estimate import folds, n_folds
from netrx.recipe.pool import NEXT_BATCH, Pool, concat_histories, final_config, holds_another
from netrx.recipe.steps import Context, fmt, single_config, train_population
from netrx.train.deadline import Budget

#: at most this many batches (each F fits of K members)
MAX_BATCHES = 4


def crossfit_pool(ctx: Context, name: str, config: dict[str, Any], clock: Budget,
                  max_batches: int = MAX_BATCHES) -> tuple[Any, dict[str, Any]]:
    """Batches of F fold fits of ``config`` while ``clock`` holds another batch (measured
    by the last; the last batch with the members the time holds, see the module
    docstring); returns a :class:`~netrx.recipe.final.Pool` of every member and
    ``{oof_error, mean_member, batches, folds}``."""
    F = n_folds(ctx.prepared)
    parts = folds(ctx.prepared, F, int(ctx.cfg0.seed))
    obj = ctx.prepared.objective
    pops, histories, rows = [], [], []
    sums: list[Any] = [0.0] * F  # per fold: Σ over its fits of (members) × (their mean output)
    counts = [0] * F  # per fold: the members summed
    last, total, batches = 0.0, 0.0, 0
    while batches < max_batches:
        members = batch_members(ctx.members, clock.remaining, last) if batches else ctx.members
        if members == 0:
            break
        t0 = time.monotonic()
        for f, part in enumerate(parts):
            cfg = final_config(ctx, config, batches * F + f)
            if members != ctx.members:
                cfg = single_config(cfg, members=members)
            budget = Budget(max(clock.remaining / (F - f), 1.0))
            pop, history, _ = train_population(cfg, part, budget)
            offset = sum(p.members for p in pops)
            for r in member_errors(pop, part, history):  # dev: its own held-out fold
                rows.append({**r, "member": offset + r["member"], "fold": f})
            Xf, _ = as_tensors(part.splits.dev, pop, part)
            live = [k for k in range(pop.members) if not bool(pop.diverged[k])] or [0]
            with torch.no_grad():
                mean = average_outputs(pop, Xf, obj, live)
            sums[f] = sums[f] + len(live) * mean
            counts[f] += len(live)
            pops.append(pop)
            histories.append(history)
        batches += 1
        last = time.monotonic() - t0
        total += last
        if members != ctx.members:  # the time held no more
            break
    errors, sizes = [], []
    for f, part in enumerate(parts):
        _, yf = as_tensors(part.splits.dev, pops[0], part)
        errors.append(ensemble_error(sums[f] / counts[f], yf, obj))
        sizes.append(len(part.splits.dev.y))
    oof = float(np.average(errors, weights=sizes))
    devs = [r["dev_error"] for r in rows if r["dev_error"] is not None]
    pop = concat(pops)
    history = concat_histories(histories)
    seeds = f"{batches} batch(es) × {F} folds × {ctx.members} seeds"
    if pops[-1].members != ctx.members:
        seeds = (f"{batches - 1} batch(es) × {F} folds × {ctx.members} seeds and one of "
                 f"{pops[-1].members} (the time left held no more)")
    ctx.log.decide("final", "cross-fit ensemble", f"{name}: {seeds} in {total:.0f} s; "
                   "out-of-fold error "
                   f"{fmt(oof)}, mean member {fmt(float(np.mean(devs)) if devs else None)}",
                   f"an ensemble of {pop.members} members, each trained on {F - 1} of "
                   f"{F} folds of train ∪ dev")
    cfg = single_config(final_config(ctx, config, 0), members=pop.members)
    info = {"oof_error": oof, "mean_member": float(np.mean(devs)) if devs else None,
            "batches": batches, "folds": F}
    return Pool(name, cfg, pop, history, rows, None, 0.0, total), info


def batch_members(K: int, left: float, last: float) -> int:
    """Members per fold of the next batch: K while ``left`` holds 1.2× the last batch's
    ``last`` seconds, else ⌊K·left / (1.2·last)⌋ if that is at least 2, else 0 (no
    batch)."""
    if holds_another(left, last):
        return K
    fewer = int(K * left / (NEXT_BATCH * last)) if last > 0 else 0
    return fewer if 2 <= fewer < K else 0


def crossfit_candidates(pool: Any, info: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """The two predictors of a cross-fit pool: the ensemble of every member (its
    out-of-fold error) and a single member (the mean member's fold error; the member
    with the lowest fold error is the one kept)."""
    ranked = sorted((r for r in pool.rows if r["dev_error"] is not None),
                    key=lambda r: (r["dev_error"], r["member"]))
    k = ranked[0]["member"] if ranked else 0
    members = [r["member"] for r in ranked] or [0]
    what = f"of {pool.name} " if prefix else ""
    # the ensemble first: a tie (small dev folds) goes to the steadier predictor
    return [{"predictor": f"{prefix}ensemble", "dev_error": info["oof_error"],
             "what": f"mean of {len(members)} cross-fit members {what}(out-of-fold "
                     f"error, {info['batches']} × {info['folds']} folds)",
             "_pool": pool, "_member": k, "_members": members},
            {"predictor": f"{prefix}single", "dev_error": info["mean_member"],
             "what": f"member {k} {what}(judged by the mean member's fold error)",
             "_pool": pool, "_member": k, "_members": [k]}]
