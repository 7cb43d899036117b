"""What a finished (or interrupted) study leaves in its run directory.

- ``trials.csv``: one row per trial: number, state, value, epochs, stage, retry_of,
  reason, worker, seconds and every searched key (real values: β, not log10(1 − β)).
- ``best.yaml``: the full run config of the best completed trial, for ``netrx train``.
- ``importance.json``: fANOVA importance of each key over the completed trials (or why it
  is not available: it needs at least :data:`MIN_IMPORTANCE_TRIALS` of them).
- ``plots.json``: the data of the search plots: history (value and best so far per
  trial), parallel coordinates and slices (each key with its scale, so α and β get log
  axes), learning curves, the coarse-to-fine box.
- ``tune.json``: a summary (counts per state, how many of the FAIL trials were asked by a
  racing worker after the budget was spent and never ran, the best trial, the box, the
  storage with its password masked).

``optuna-dashboard sqlite:///runs/<name>/study.db`` opens the same study interactively.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netrx.config import RunConfig, parse_config, to_yaml
from netrx.files import write_atomic
from netrx.tune.fine_stage import BOX
from netrx.tune.liveness import REASON, RETRY_OF, STAGE, WORKER
from netrx.tune.settings import TuneConfig
from netrx.tune.source import OVER_BUDGET
from netrx.tune.space import Space
from netrx.tune.trials import CURVE, EPOCHS

if TYPE_CHECKING:
    import optuna

MIN_IMPORTANCE_TRIALS = 10


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _json(obj: Any) -> str:
    def clean(o: Any) -> Any:
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return _finite(o)

    return json.dumps(clean(obj), indent=2, default=str)


def curve_of(t: optuna.trial.FrozenTrial) -> list[float]:
    """The dev metric after each epoch: the ``netrx:curve`` attribute, or the reported
    values when every epoch was reported (a trial pruned at the first rung)."""
    if CURVE in t.user_attrs:
        return list(t.user_attrs[CURVE])
    return [t.intermediate_values[s] for s in sorted(t.intermediate_values)]


def epochs_of(t: optuna.trial.FrozenTrial) -> int:
    """Epochs a trial trained (one dev value per epoch, but the epoch it diverged in)."""
    return int(t.user_attrs.get(EPOCHS, len(curve_of(t))))


def reason_of(t: optuna.trial.FrozenTrial) -> str:
    """Why a trial did not complete (the pruner's decision needs no attribute)."""
    if REASON in t.user_attrs:
        return str(t.user_attrs[REASON])
    if t.state.name == "PRUNED":
        return f"pruned at epoch {epochs_of(t)}"
    return ""


def trial_rows(study: optuna.Study, space: Space) -> list[dict[str, Any]]:
    """One dict per trial (real parameter values, state names, reasons)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        try:
            values = space.decode(t.params)
        except Exception:
            values = dict(t.params)
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        row = {"number": t.number, "state": t.state.name, "value": _finite(t.value),
               "epochs": epochs_of(t), "stage": t.user_attrs.get(STAGE, ""),
               "retry_of": t.user_attrs.get(RETRY_OF, ""),
               "reason": reason_of(t), "worker": t.user_attrs.get(WORKER, ""),
               "seconds": round(seconds, 3) if seconds is not None else None}
        row.update({p.key: values.get(p.key, "") for p in space})
        rows.append(row)
    return rows


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The completed trial with the lowest finite value (ties: the earliest)."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and math.isfinite(t.value)]
    return min(done, key=lambda t: (t.value, t.number)) if done else None


def trial_run_config(cfg: TuneConfig, values: dict[str, Any], name: str) -> RunConfig:
    """The full run config of one trial (one member), named ``name``, ready for
    ``netrx train`` (``best.yaml`` is its YAML)."""
    data = cfg.trial_config(values, members=1)
    data["name"] = name
    return parse_config(data)


def best_run_config(study: optuna.Study, cfg: TuneConfig, name: str, *,
                    best: optuna.trial.FrozenTrial | None = None) -> RunConfig | None:
    """The run config of the best completed trial (``best``, when already looked up),
    named ``<name>-best``: what ``best.yaml`` holds; None when no trial completed."""
    best = best if best is not None else best_trial(study)
    if best is None:
        return None
    return trial_run_config(cfg, cfg.space.decode(best.params), f"{name}-best")


def importance(study: optuna.Study, space: Space) -> dict[str, Any]:
    """fANOVA importance per key (Optuna's evaluator), on the keys every completed trial
    has; the parameter of a β is log10(1 − β), of an α its log (the scales searched)."""
    import optuna
    from optuna.trial import TrialState

    n = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if n < MIN_IMPORTANCE_TRIALS:
        return {"available": False,
                "reason": f"fANOVA needs at least {MIN_IMPORTANCE_TRIALS} completed trials; "
                          f"the study has {n}"}
    try:
        scores = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except Exception as e:  # e.g. every completed trial has the same parameters
        return {"available": False, "reason": f"fANOVA failed: {e}"}
    out = []
    for name, score in scores.items():
        p = space.by_name.get(name)
        out.append({"key": p.key if p else name, "parameter": name,
                    "scale": p.dist.scale if p else "", "importance": float(score)})
    return {"available": True, "method": "fANOVA", "completed_trials": n, "keys": out}


def plot_data(study: optuna.Study, space: Space) -> dict[str, Any]:
    """The data of the search plots (see the module docstring)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    history, best = [], math.inf
    for t in trials:
        v = t.value if t.state == TrialState.COMPLETE else None
        if v is not None and math.isfinite(v):
            best = min(best, v)
        history.append({"number": t.number, "state": t.state.name, "value": _finite(t.value),
                        "best_so_far": best if math.isfinite(best) else None,
                        "stage": t.user_attrs.get(STAGE, "")})
    params = []
    for p in space:
        entry: dict[str, Any] = {"key": p.key, "parameter": p.name, "kind": p.dist.kind,
                                 "scale": p.dist.scale,
                                 "axis": "log" if p.dist.scale in ("log", "one_minus_log")
                                 else "category" if p.dist.scale == "categorical" else "linear"}
        if p.dist.kind == "choice":
            entry["choices"] = list(p.dist.args)
        else:
            entry["range"] = list(p.dist.bounds())
        if p.dist.scale == "one_minus_log":
            entry["note"] = "plot 1 − value on a log axis (β near 1)"
        params.append(entry)
    rows = []
    for t in trials:
        if t.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            continue
        try:
            values = space.decode(t.params)
        except Exception:
            continue
        rows.append({"number": t.number, "state": t.state.name, "value": _finite(t.value),
                     "epochs": epochs_of(t), **values})
    complete = [r for r in rows if r["state"] == "COMPLETE" and r["value"] is not None]
    slices = {p.key: {"x": [r[p.key] for r in complete if p.key in r],
                      "y": [r["value"] for r in complete if p.key in r],
                      "axis": next(e["axis"] for e in params if e["key"] == p.key)}
              for p in space}
    curves = {str(t.number): curve_of(t) for t in trials if curve_of(t)}
    return {"history": history, "params": params, "parallel": rows, "slices": slices,
            "curves": curves, "box": study.user_attrs.get(BOX)}


def write_outputs(study: optuna.Study, cfg: TuneConfig, run_dir: Path, name: str,
                  url: str = "") -> dict[str, Any]:
    """Write every file of the module docstring into ``run_dir``; return the summary."""
    from netrx.tune.storage import mask_url

    run_dir.mkdir(parents=True, exist_ok=True)
    rows = trial_rows(study, cfg.space)
    fields = list(rows[0]) if rows else ["number", "state", "value"]
    write_atomic(run_dir / "trials.csv", lambda f: _csv(f, fields, rows), mode="w")
    best = best_trial(study)
    best_values = cfg.space.decode(best.params) if best is not None else None
    if best is not None:
        text = to_yaml(best_run_config(study, cfg, name, best=best))
        write_atomic(run_dir / "best.yaml", lambda f: f.write(text), mode="w")
    imp = importance(study, cfg.space)
    write_atomic(run_dir / "importance.json", lambda f: f.write(_json(imp)), mode="w")
    plots = plot_data(study, cfg.space)
    write_atomic(run_dir / "plots.json", lambda f: f.write(_json(plots)), mode="w")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    summary = {
        "name": name, "study": study.study_name, "storage": mask_url(url),
        "strategy": cfg.search.strategy, "pruner": cfg.search.pruner,
        "metric": cfg.search.metric, "trials": len(rows), "states": counts,
        "trained": sum(1 for r in rows if (r["epochs"] or 0) > 0),
        "over_budget": sum(1 for t in study.get_trials(deepcopy=False)
                           if OVER_BUDGET in t.user_attrs),
        "best": None if best is None else {"number": best.number, "value": best.value,
                                           "epochs": epochs_of(best),
                                           "values": best_values},
        "box": study.user_attrs.get(BOX), "importance": imp,
        "space": cfg.space.to_mapping(),
    }
    write_atomic(run_dir / "tune.json", lambda f: f.write(_json(summary)), mode="w")
    return summary


def _csv(f: Any, fields: list[str], rows: list[dict[str, Any]]) -> None:
    writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v
                         for k, v in r.items()})
