"""The report of a study: ``netrx report`` on a tune run directory.

It reads what ``netrx tune`` wrote (``tune.json``, ``plots.json``, ``importance.json``;
see :mod:`netrx.tune.exports`) and writes one self-contained page, ``report.html`` in the
directory: the summary and the best trial, the optimization history (best so far),
parallel coordinates, the importance of each key, slices (log x axes for α-like keys
and 1 − β) and the trials' learning curves. Every user string goes through
``html.escape`` (:class:`netrx.report.html.Page` and :func:`~netrx.report.html.table`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from netrx.errors import RunDirError
from netrx.report import study_figures as figs
from netrx.report.html import Page, esc, table


def is_study_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` is what ``netrx tune`` writes (not a training run: those have a
    ``summary.json``)."""
    d = Path(path)
    return (d / "plots.json").is_file() and (d / "tune.json").is_file() \
        and not (d / "summary.json").is_file()


def _read(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except json.JSONDecodeError as e:
        raise RunDirError(f"{path} is not valid JSON ({e.msg}, line {e.lineno}); rerun "
                          "netrx tune with the same name to write it again") from None


def _value(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, (list, dict)) else v


def _num(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, (int, float)) else str(v)


def _summary_section(page: Page, summary: dict[str, Any], imp: dict[str, Any] | None) -> None:
    from netrx.tune.storage import mask_url

    states = summary.get("states") or {}
    rows = [{"": "study", "value": summary.get("study")},
            {"": "strategy", "value": summary.get("strategy")},
            {"": "pruner", "value": summary.get("pruner")},
            {"": "metric", "value": summary.get("metric")},
            {"": "trials", "value": f"{summary.get('trials', 0)} ("
             + ", ".join(f"{n} {k.lower()}" for k, n in sorted(states.items())) + ")"},
            {"": "trained ≥ 1 epoch", "value": summary.get("trained")},
            {"": "storage", "value": mask_url(str(summary.get("storage") or ""))}]
    parts = [table(rows, ["", "value"])]
    best = summary.get("best")
    if best:
        parts.append(f"<h3>Best trial: {esc(best.get('number'))}</h3>"
                     f"<p class='verdict'>dev metric {esc(_num(best.get('value')))} "
                     f"after {esc(best.get('epochs'))} epochs</p>")
        values = best.get("values") or {}
        parts.append(table([{"key": k, "value": _value(v)} for k, v in values.items()],
                           ["key", "value"]))
        parts.append("<p class='muted'>best.yaml in this directory is its full run config: "
                     "<code>netrx train best.yaml</code>.</p>")
    else:
        parts.append("<p class='muted'>No trial completed yet.</p>")
    box = summary.get("box")
    if isinstance(box, dict) and isinstance(box.get("box"), dict):
        rows = [{"key": k, "scale": b.get("scale"),
                 "fine stage": _value(b.get("choices")) if "choices" in b
                 else f"{_num(b.get('lo'))} … {_num(b.get('hi'))}" if "lo" in b else "—",
                 "coarse stage": _value(b.get("from"))}
                for k, b in box["box"].items() if isinstance(b, dict)]
        parts.append("<h3>Coarse to fine: the narrowed box</h3>"
                     + table(rows, ["key", "scale", "fine stage", "coarse stage"]))
    if imp and not imp.get("available"):
        parts.append(f"<p class='muted'>Importance: {esc(imp.get('reason'))}</p>")
    page.section("Study", *parts)


def build_study_report(tune_dir: str | os.PathLike, out: str | os.PathLike | None = None) \
        -> Path:
    """Write ``report.html`` for a tune run directory (or to ``out``); return its path."""
    from netrx.files import write_atomic

    d = Path(tune_dir)
    summary = _read(d / "tune.json")
    plots = _read(d / "plots.json")
    if summary is None or plots is None:
        missing = "tune.json" if summary is None else "plots.json"
        raise RunDirError(f"{d} has no {missing}: not a netrx tune run directory")
    imp = _read(d / "importance.json") or summary.get("importance")
    best = (summary.get("best") or {}).get("number")
    page = Page(f"netrx study — {summary.get('name', d.name)}",
                f"{summary.get('trials', 0)} trials · {summary.get('strategy')} search · "
                f"pruner {summary.get('pruner')} · metric {summary.get('metric')} (lower is "
                "better)")
    _summary_section(page, summary, imp)
    page.section("Optimization history", page.figure(figs.history(plots)))
    parallel = figs.parallel_coordinates(plots)
    if parallel is not None:
        page.section("Parallel coordinates",
                     "<p class='muted'>Log-scaled keys are drawn as log10 (ticks at decades), "
                     "β as log10(1 − β); drag along an axis to select a range.</p>",
                     page.figure(parallel))
    bars = figs.importance(imp)
    page.section("Hyperparameter importance", page.figure(bars) if bars is not None else
                 f"<p class='muted'>{esc((imp or {}).get('reason', 'not computed'))}</p>")
    sliced = figs.slices(plots)
    if sliced is not None:
        page.section("Slices", page.figure(sliced))
    curves = figs.trial_curves(plots, best)
    if curves is not None:
        page.section("Learning curves", page.figure(curves))
    target = Path(out) if out is not None else d / "report.html"
    text = page.render()
    write_atomic(target, lambda f: f.write(text), mode="w")
    return target
