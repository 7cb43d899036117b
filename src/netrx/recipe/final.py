"""The final step of ``netrx improve``: K seeds with Polyak averaging; single member vs
ensemble vs Polyak weights on dev; the test set once; the run directory."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from netrx.config import parse_config
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
from netrx.recipe.steps import (
    RESERVE,
    Context,
    best_row,
    fmt,
    patience_for,
    train_population,
)
from netrx.train import evaluate
from netrx.train.deadline import Budget

# -- the final step ---------------------------------------------------------------------


def final_step(ctx: Context, current: dict[str, Any]) -> dict[str, Any]:
    """Step 5: K seeds of the chosen config with Polyak averaging; single vs ensemble vs
    Polyak on dev; the test set once, for the winner."""
    from netrx.ensemble import PolyakAveraging

    cfg = parse_config(current["config"])
    data = cfg.model_dump(mode="json")
    data.update(members=ctx.members, name=ctx.cfg0.name)
    data["train"]["early_stopping"] = {"patience": patience_for(cfg.train.epochs)}
    cfg = parse_config(data)
    steps = -(-len(ctx.prepared.splits.train.y) // cfg.train.batch_size)
    # Polyak β: an averaging window 1/(1 − β) of about a fifth of the planned steps
    beta = min(0.999, max(0.9, 1.0 - 5.0 / (steps * max(cfg.train.epochs, 1))))
    polyak = PolyakAveraging(beta)
    left = max(ctx.clock.remaining - RESERVE * ctx.total, 1.0)
    t0 = time.monotonic()
    pop, history, rows = train_population(cfg, ctx.prepared, Budget(left), extra=[polyak])
    seconds = time.monotonic() - t0
    best = best_row(rows)
    k = best["member"]
    obj = ctx.prepared.objective
    Xd, yd = as_tensors(ctx.prepared.splits.dev, pop, ctx.prepared)
    Xt, _ = as_tensors(ctx.prepared.splits.train, pop, ctx.prepared)
    ranked = sorted((r for r in rows if r["dev_error"] is not None),
                    key=lambda r: (r["dev_error"], r["member"]))
    top = [r["member"] for r in ranked[:max(2, len(ranked) // 2)]]
    ens_dev = ensemble_split_error(pop, ctx.prepared, ctx.prepared.splits.dev, top)
    pol_dev = None
    if polyak.averaged is not None:
        with polyak.swapped_in(pop, Xt), torch.no_grad():
            pol_dev = float(evaluate(pop, Xd, yd, obj)[1][k])
    mean_of = "predictions" if ctx.prepared.task == "regression" else "probabilities"
    table = [{"predictor": "single", "what": f"member {k} (best of {ctx.members} seeds)",
              "dev_error": best["dev_error"]},
             {"predictor": "ensemble", "what": f"mean {mean_of} of members {top}",
              "dev_error": ens_dev},
             {"predictor": "polyak", "what": f"member {k} with EWA weights (β={beta:.4g})",
              "dev_error": pol_dev}]
    candidates = [r for r in table if r["dev_error"] is not None]
    chosen = min(candidates, key=lambda r: r["dev_error"])  # ties: the simplest (listed first)
    ctx.log.decide("final", "lowest dev error",
                   ", ".join(f"{r['predictor']} {fmt(r['dev_error'])}" for r in table),
                   f"use {chosen['predictor']} ({chosen['what']})")
    if chosen["predictor"] == "polyak":  # keep the averaged weights in the run directory
        from netrx.ensemble import recompute_batch_norm

        with torch.no_grad():
            pop.flat.copy_(polyak.averaged)
        recompute_batch_norm(pop, Xt)
        rows = member_errors(pop, ctx.prepared, history)
    members = top if chosen["predictor"] == "ensemble" else [k]
    test = evaluate_test(pop, ctx.prepared, members)
    chosen_row = dict(rows[k])
    if chosen["predictor"] == "ensemble":
        chosen_row["dev_error"] = ens_dev
    ctx.log.decide("final", "test set evaluated once",
                   f"{chosen['predictor']}: test error {fmt(test['error'])}",
                   "report it; no decision uses it")
    result = RunResult(cfg, ctx.prepared, history, pop, k, member_table(cfg, pop, rows),
                       {k: test[k] for k in TEST_METRICS if test.get(k) is not None},
                       seconds)
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
