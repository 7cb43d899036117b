"""Step 1 of ``netrx improve``: the baseline, a log-scale learning-rate sweep per family
(K members, one learning rate each); the best member on dev becomes the current config."""

from __future__ import annotations

import time
from typing import Any

from netrx.config import RunConfig, parse_config
from netrx.diagnose.prescriptions import input_kind
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
