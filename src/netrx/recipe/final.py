"""The final step of ``netrx improve``: batches of K seeds with Polyak averaging while the
budget lasts, the baseline's winner beside the tuned config; single member vs ensemble vs
Polyak weights on dev; the test set once; the run directory."""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netrx.config import RunConfig
from netrx.experiment.evaluate import (
    TEST_METRICS,
    RunResult,
    as_tensors,
    ensemble_split_error,
    evaluate_test,
    member_errors,
    member_table,
)
from netrx.files import write_json
from netrx.population import Population
from netrx.recipe.crossfit import crossfit_candidates, crossfit_pool
from netrx.recipe.estimate import n_folds
from netrx.recipe.pool import MAX_BATCHES, Pool, concat_histories, final_config, holds_another
from netrx.recipe.refit import refit_candidates, refit_plan
from netrx.recipe.steps import (
    RESERVE,
    Context,
    best_row,
    fmt,
    single_config,
    train_population,
)
from netrx.train import History, evaluate
from netrx.train.deadline import Budget

# -- the final step ---------------------------------------------------------------------

#: the baseline's winner (when a round replaced it) gets this share of the final's time
BASELINE_SHARE = 0.3


def final_step(ctx: Context, current: dict[str, Any]) -> dict[str, Any]:
    """Step 5: batches of K seeds of the chosen config with Polyak averaging while the
    budget lasts (at most :data:`MAX_BATCHES`), and one batch of the baseline's winner
    when a round replaced it; on dev, single vs ensemble vs Polyak of each; the test set
    once, for the winner. On small data (the estimates' k-fold regime) the batches are
    cross-fit instead (:mod:`netrx.recipe.crossfit`): no row of train ∪ dev is left out
    of training, and the ensemble is judged by its out-of-fold error."""
    base = ctx.state.data.get("baseline_winner")
    left = max(ctx.clock.remaining - RESERVE * ctx.total, 1.0)
    other = base is not None and base["config"] != current["config"]
    clock = Budget(left)
    prefix = (lambda name: f"{name} ") if other else (lambda name: "")
    table: list[dict[str, Any]] = []
    small = n_folds(ctx.prepared) > 1
    if small and _crossfit_fits(ctx, current, base if other else None, left):
        # small data: every train and dev row trains members
        main = "tuned" if other else "chosen"
        pool, info = crossfit_pool(ctx, main, current["config"],
                                   Budget(left * (1 - BASELINE_SHARE) if other else left))
        table += crossfit_candidates(pool, info, prefix(main))
        if other:
            pool, info = crossfit_pool(ctx, "baseline", base["config"],
                                       Budget(clock.remaining), max_batches=1)
            table += crossfit_candidates(pool, info, prefix("baseline"))
    elif small and (refit := refit_plan(ctx, current, base if other else None, left)):
        # small data without time for a cross-fit: no row is left out of the final members
        table += refit_candidates(ctx, refit, Budget(left))
    else:
        pools = [_pool(ctx, "tuned" if other else "chosen", current["config"],
                       Budget(left * (1 - BASELINE_SHARE) if other else left))]
        if other:
            pools.append(_pool(ctx, "baseline", base["config"],
                               Budget(min(clock.remaining, BASELINE_SHARE * left))))
        pools[0] = _grow(ctx, pools[0], current["config"], clock)
        for pool in pools:
            table += _candidates(ctx, pool, prefix=prefix(pool.name))
    # (a refit's other candidate is listed with its estimate, but has no members to use)
    candidates = [r for r in table if r["dev_error"] is not None and r["_pool"] is not None]
    chosen = min(candidates, key=lambda r: r["dev_error"])  # ties: the simplest, listed first
    ctx.log.decide("final", "lowest dev error",
                   ", ".join(f"{r['predictor']} {fmt(r['dev_error'])}" for r in table),
                   f"use {chosen['predictor']} ({chosen['what']})")
    rows_judged = len(ctx.prepared.splits.dev.y) + (
        len(ctx.prepared.splits.train.y) if n_folds(ctx.prepared) > 1 else 0)
    steadier, se = ensemble_within_noise(candidates, chosen, rows_judged, ctx.prepared.task)
    if steadier is not None:
        ctx.log.decide("final", "an ensemble within one standard error",
                       f"{chosen['predictor']} {fmt(chosen['dev_error'])}, "
                       f"{steadier['predictor']} {fmt(steadier['dev_error'])}; one standard "
                       f"error {fmt(se)} on {rows_judged} rows",
                       f"use {steadier['predictor']} ({steadier['what']})")
        chosen = steadier
    pool = chosen.pop("_pool")
    prepared = chosen.pop("_prepared", ctx.prepared)  # a refit trained on every row
    for r in table:
        r.pop("_pool", None)
        r.pop("_prepared", None)
    pop, rows, k = pool.pop, pool.rows, chosen["_member"]
    kind = chosen["predictor"].split()[-1]
    Xt, _ = as_tensors(ctx.prepared.splits.train, pop, ctx.prepared)
    if kind == "polyak":  # keep the averaged weights in the run directory
        from netrx.ensemble import recompute_batch_norm

        with torch.no_grad():
            pop.flat.copy_(pool.averaged)
        recompute_batch_norm(pop, Xt)
        rows = member_errors(pop, ctx.prepared, pool.history)
    members = chosen["_members"]
    for r in table:
        r.pop("_member", None)
        r.pop("_members", None)
    chosen_row = dict(rows[k])
    if kind == "ensemble":
        chosen_row["dev_error"] = chosen["dev_error"]
    if len(ctx.prepared.splits.test.y):
        test = evaluate_test(pop, ctx.prepared, members)
        ctx.log.decide("final", "test set evaluated once",
                       f"{chosen['predictor']}: test error {fmt(test['error'])}",
                       "report it; no decision uses it")
    else:  # --test 0: the user keeps the test set
        test = {"error": None}
    cfg = single_config(pool.cfg, members=pop.members, name=ctx.cfg0.name)
    result = RunResult(cfg, prepared, pool.history, pop, k, member_table(cfg, pop, rows),
                       {k: test[k] for k in TEST_METRICS if test.get(k) is not None},
                       pool.seconds)
    result.test_predictions = test.get("predictions")
    chosen_text = f"{chosen['predictor']}: {chosen['what']}"
    result.extras.update({"chosen": chosen_text, "final_table": table,
                          "ensemble_members": members})
    if test.get("confusion") is not None:
        result.extras["confusion_matrix"] = test["confusion"]
    return {"_result": result, "table": table, "chosen": chosen["predictor"],
            "chosen_text": chosen_text, "test_error": test["error"],
            "test": {k: test[k] for k in TEST_METRICS if test.get(k) is not None},
            "dev_error": chosen_row["dev_error"], "members": members}


def _batch(ctx: Context, config: dict[str, Any], batch: int, budget: Budget,
           ) -> tuple[RunConfig, Population, History, torch.Tensor | None, float, float]:
    from netrx.ensemble import PolyakAveraging

    cfg = final_config(ctx, config, batch)
    steps = -(-len(ctx.prepared.splits.train.y) // cfg.train.batch_size)
    # Polyak β: an averaging window 1/(1 − β) of about a fifth of the planned steps
    beta = min(0.999, max(0.9, 1.0 - 5.0 / (steps * max(cfg.train.epochs, 1))))
    polyak = PolyakAveraging(beta)
    t0 = time.monotonic()
    pop, history, _ = train_population(cfg, ctx.prepared, budget, extra=[polyak])
    return cfg, pop, history, polyak.averaged, beta, time.monotonic() - t0


def _pool(ctx: Context, name: str, config: dict[str, Any], budget: Budget) -> Pool:
    cfg, pop, history, averaged, beta, seconds = _batch(ctx, config, 0, budget)
    return Pool(name, cfg, pop, history, member_errors(pop, ctx.prepared, history), averaged,
                beta, seconds)


def _grow(ctx: Context, pool: Pool, config: dict[str, Any], clock: Budget) -> Pool:
    """More batches of K fresh seeds while the final's time holds another one (measured
    by the last), joined into one pool: the budget buys a larger ensemble."""
    pops, histories, averaged = [pool.pop], [pool.history], [pool.averaged]
    last, total = pool.seconds, pool.seconds
    while len(pops) < MAX_BATCHES and holds_another(clock.remaining, last):
        _, pop, history, avg, _, last = _batch(ctx, config, len(pops),
                                               Budget(clock.remaining))
        pops.append(pop)
        histories.append(history)
        averaged.append(avg)
        total += last
    if len(pops) == 1:
        return pool
    from netrx.population.merge import concat

    pop = concat(pops)
    history = concat_histories(histories)
    avg = None if any(a is None for a in averaged) else torch.cat(averaged)
    ctx.log.decide("final", "time left for more seeds", f"{len(pops)} batches of "
                   f"{ctx.members} seeds in {total:.0f} s", f"an ensemble pool of {pop.members}")
    return Pool(pool.name, pool.cfg, pop, history, member_errors(pop, ctx.prepared, history),
                avg, pool.beta, total)


def _crossfit_fits(ctx: Context, current: dict[str, Any], base: dict[str, Any] | None,
                   left: float) -> bool:
    """Whether ``left`` seconds hold one cross-fit batch (F fits of each config, at the cost
    per fit its estimate measured). When they do not, every fold's members would be cut
    short by the clock, and an ensemble of under-trained members is worse than one fit
    of K seeds that runs to the end (MNIST-1D, 15 minutes, 1 thread: out-of-fold error
    0.1995 against the tuned config's estimate of 0.1534)."""
    F = n_folds(ctx.prepared)
    cost = F * sum(float(c.get("seconds") or 0.0) for c in (current, base) if c is not None)
    if 1.2 * cost <= left:
        return True
    ctx.log.decide("final", "no time for a cross-fit",
                   f"a batch of {F} folds takes ≈{cost:.0f} s, {left:.0f} s left",
                   "refit on every row if its time holds, else K seeds on train, "
                   "early-stopped on dev")
    return False


def dev_error_se(error: float, n: int, task: str) -> float:
    """One standard error of a dev error measured on ``n`` rows: √(p(1 − p)/n) for an error
    rate (p at least 1/n, so that 0 errors still leave one row's worth of doubt); for
    regression, where the error is MSE/σ², e·√(2/n) (the squared residuals of a Gaussian
    have variance 2σ⁴)."""
    n = max(int(n), 1)
    if task == "regression":
        return float(error) * math.sqrt(2.0 / n)
    p = min(max(float(error), 1.0 / n), 1.0)
    return math.sqrt(p * (1.0 - p) / n)


def ensemble_within_noise(candidates: list[dict[str, Any]], chosen: dict[str, Any], n: int,
                          task: str) -> tuple[dict[str, Any] | None, float]:
    """The best ensemble when ``chosen`` is one network (single or Polyak) that beats it by
    no more than one standard error of the dev error, else None; and that error.

    A single network's dev error is its best epoch's (early stopping restores it), chosen on
    the same rows it is judged on, and an average of members is the steadier predictor: on
    small dev sets the two differ by a row or two, and the lower number is then luck."""
    se = dev_error_se(chosen["dev_error"], n, task)
    if chosen["predictor"].split()[-1] == "ensemble":
        return None, se
    ensembles = [r for r in candidates if r["predictor"].split()[-1] == "ensemble"]
    if not ensembles:
        return None, se
    best = min(ensembles, key=lambda r: r["dev_error"])
    return (best if best["dev_error"] - chosen["dev_error"] <= se else None), se


def _candidates(ctx: Context, pool: Pool, prefix: str) -> list[dict[str, Any]]:
    """single / ensemble / polyak rows of one pool on dev. The best member's own dev error
    is the minimum of N noisy numbers, biased low the more seeds there are; a single
    member is therefore judged by the **mean** member's dev error (what one network of
    the config scores), and so are the Polyak weights."""
    pop, rows = pool.pop, pool.rows
    best = best_row(rows)
    k = best["member"]
    ranked = sorted((r for r in rows if r["dev_error"] is not None),
                    key=lambda r: (r["dev_error"], r["member"]))
    mean_dev = float(np.mean([r["dev_error"] for r in ranked]))
    top = [r["member"] for r in ranked[:max(2, len(ranked) // 2)]]
    ens_dev = ensemble_split_error(pop, ctx.prepared, ctx.prepared.splits.dev, top)
    pol_dev = None
    if pool.averaged is not None:
        from netrx.ensemble import PolyakAveraging

        polyak = PolyakAveraging(pool.beta)
        polyak.averaged = pool.averaged
        Xd, yd = as_tensors(ctx.prepared.splits.dev, pop, ctx.prepared)
        Xt, _ = as_tensors(ctx.prepared.splits.train, pop, ctx.prepared)
        with polyak.swapped_in(pop, Xt), torch.no_grad():
            errors = evaluate(pop, Xd, yd, ctx.prepared.objective)[1].double().cpu().numpy()
        live = [r["member"] for r in ranked]
        pol_dev = float(np.mean(errors[live])) if np.isfinite(errors[live]).all() else None
    mean_of = "predictions" if ctx.prepared.task == "regression" else "probabilities"
    what = f"of {pool.name} " if prefix else ""
    n = len(ranked)
    return [{"predictor": f"{prefix}single", "dev_error": mean_dev,
             "what": f"member {k} {what}(best of {n} seeds: {fmt(best['dev_error'])}; "
                     "judged by the mean member)",
             "_pool": pool, "_member": k, "_members": [k]},
            {"predictor": f"{prefix}ensemble", "dev_error": ens_dev,
             "what": f"mean {mean_of} of {len(top)} members {what}(the better half)",
             "_pool": pool, "_member": k, "_members": top},
            {"predictor": f"{prefix}polyak", "dev_error": pol_dev,
             "what": f"member {k} {what}with EWA weights (β={pool.beta:.4g}; judged by "
                     "the mean member)",
             "_pool": pool, "_member": k, "_members": [k]}]


# -- the run directory ------------------------------------------------------------------


def write_outputs(ctx: Context, result: RunResult, final: dict[str, Any]) -> None:
    """write_run + decisions.json + bias_variance.json + the last search's files."""
    from netrx.experiment.rundir import write_run

    d = ctx.partial
    result.extras["improve"] = {"budget_seconds": ctx.total, "seconds": round(ctx.spent(), 3),
                                "families": list(ctx.families),
                                "rounds": sum(1 for s in ctx.state.data["steps"]
                                              if s.startswith("round"))}
    write_run(result, d)
    decisions = ctx.state.data["decisions"]
    write_json(d / "decisions.json", decisions)
    steps = ctx.state.data["bias_variance"]
    write_json(d / "bias_variance.json", steps)
    tuned = [Path(v["tune_dir"]) for k, v in sorted(ctx.state.data["steps"].items())
             if k.startswith("round") and v.get("tune_dir")]
    if tuned:
        _copy_search(tuned[-1], d)


def _copy_search(src: Path, dst: Path) -> None:
    """The last round's trials (as ``params_<key>`` columns), importance and log keys."""
    import pandas as pd

    trials_csv = src / "trials.csv"
    if trials_csv.is_file():
        trials = pd.read_csv(trials_csv)
        fixed = {"number", "state", "value", "epochs", "stage", "retry_of", "reason", "worker",
                 "seconds"}
        trials = trials.rename(columns={c: f"params_{c}" for c in trials.columns
                                        if c not in fixed})
        trials.to_csv(dst / "trials.csv", index=False)
    imp = src / "importance.json"
    if imp.is_file():
        data = json.loads(imp.read_text())
        scores = {e["key"]: e["importance"] for e in data.get("keys", [])} \
            if data.get("available") else {}
        write_json(dst / "importance.json", scores)
    plots = src / "plots.json"
    if plots.is_file():
        params = json.loads(plots.read_text()).get("params", [])
        log_keys = [p["key"] for p in params if p.get("axis") == "log"]
        write_json(dst / "search_space.json", {"log_keys": log_keys})
    shutil.copytree(src, dst / "search", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.db", "*.db-*"))
