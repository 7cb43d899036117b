"""Assemble a run directory into one self-contained HTML page.

The page embeds plotly.js once (it works offline), draws each figure from its
JSON, and marks ``<body data-rendered="N" data-expected="M">`` when the N
figures have rendered, which the browser test reads. Every user string
(dataset, column, class and run names, decision texts) goes through
``html.escape``; figure JSON is embedded with ``</`` escaped.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from netrx.diagnose.classification import per_class, reliability
from netrx.errors import RunDirError
from netrx.report import evaluation, figures

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7fb}
header{background:#1d2330;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c9cfdc;font-size:14px}
main{max-width:1180px;margin:0 auto;padding:16px 24px 48px}
section{background:#fff;border-radius:8px;padding:16px 20px;margin:16px 0;
box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{font-size:18px;margin:0 0 12px}table{border-collapse:collapse;font-size:13px}
th,td{border-bottom:1px solid #e3e6ee;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}.muted{color:#6b7385;font-size:13px}
.verdict{font-weight:600}.plot{min-height:300px}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return esc(value)


def table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """An HTML table of dict rows; every cell escaped."""
    if not rows:
        return "<p class='muted'>nothing to show</p>"
    columns = columns or list(rows[0])
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Page:
    """Sections of HTML and figures, rendered into one document."""

    def __init__(self, title: str, subtitle: str) -> None:
        self.title, self.subtitle = title, subtitle
        self.sections: list[str] = []
        self.figures: list[tuple[str, str]] = []

    def figure(self, fig: Any) -> str:
        if fig is None:
            return ""
        div = f"fig{len(self.figures)}"
        self.figures.append((div, fig.to_json()))
        return f"<div class='plot' id='{div}'></div>"

    def section(self, title: str, *parts: str) -> None:
        self.sections.append(f"<section><h2>{esc(title)}</h2>{''.join(parts)}</section>")

    def render(self) -> str:
        from plotly.offline import get_plotlyjs

        data = "".join(
            f"<script type='application/json' id='{div}-data'>"
            f"{spec.replace('</', '<' + chr(92) + '/')}</script>" for div, spec in self.figures)
        loader = """
<script>
(function(){
  var ids = IDS, done = 0;
  document.body.dataset.expected = ids.length;
  document.body.dataset.rendered = 0;
  ids.forEach(function(id){
    var spec = JSON.parse(document.getElementById(id + '-data').textContent);
    Plotly.newPlot(id, spec.data, spec.layout, {responsive: true, displaylogo: false})
      .then(function(){ done += 1; document.body.dataset.rendered = done; });
  });
})();
</script>""".replace("IDS", json.dumps([div for div, _ in self.figures]))
        return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                f"<title>{esc(self.title)}</title><style>{_CSS}</style>"
                f"<script>{get_plotlyjs()}</script></head><body>"
                f"<header><h1>{esc(self.title)}</h1><p>{esc(self.subtitle)}</p></header>"
                f"<main>{''.join(self.sections)}</main>{data}{loader}</body></html>")


def _read_json(path: Path) -> Any | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _read_csv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.is_file() else None


def build_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write ``report.html`` for a run directory (or to ``out``) and return its path."""
    from netrx.files import write_atomic

    d = Path(run_dir)
    summary = _read_json(d / "summary.json")
    progress = _read_json(d / "progress.json") if summary is None else None
    if summary is None and progress is None:
        raise RunDirError(f"{d} has no summary.json: not a finished netrx run directory")
    if progress is not None:  # netrx improve at work: the run so far
        return _progress_report(d, progress, Path(out) if out is not None
                                else d / "report.html")
    pre = _read_json(d / "preprocess.json") or {}
    history = _read_csv(d / "history.csv")
    page = Page(f"netrx report — {summary.get('name', d.name)}",
                f"dataset {summary.get('dataset')} · {summary.get('task')} · "
                f"{summary.get('members')} member(s) · device {summary.get('device')} · "
                f"netrx {summary.get('versions', {}).get('netrx', '?')}")
    _data_section(page, summary, pre)
    _final_section(page, summary)
    if summary.get("task") == "regression":
        predictions = _read_csv(d / "test_predictions.csv")
        if predictions is not None and len(predictions):
            page.section("Test predictions",
                         page.figure(figures.predicted_vs_actual(predictions)))
    else:
        _classification_sections(page, d, summary)
    _importance_section(page, _read_json(d / "importance_features.json"))
    decisions = _read_json(d / "decisions.json")
    if decisions:
        page.section("Decision log", table(decisions))
    steps = _read_json(d / "bias_variance.json")
    if steps:
        verdicts = "".join(f"<p class='verdict'>{esc(s.get('step'))}: {esc(s.get('verdict'))}"
                           f"</p>" for s in steps)
        page.section("Bias and variance", verdicts, page.figure(figures.bias_variance_bars(steps)))
    if history is not None and len(history):
        log_error = summary.get("task") == "regression"
        page.section("Learning curves",
                     page.figure(figures.learning_curves(history, log_error=log_error)))
        lr_fig = figures.learning_rates(history)
        if lr_fig is not None:
            page.section("Learning rates", page.figure(lr_fig))
    _search_section(page, d)
    gradcheck = _read_json(d / "gradcheck.json")
    if gradcheck:
        rows = gradcheck.get("tensors", gradcheck) if isinstance(gradcheck, dict) else gradcheck
        verdict = gradcheck.get("verdict") if isinstance(gradcheck, dict) else None
        page.section("Gradient check", f"<p class='verdict'>{esc(verdict)}</p>" if verdict
                     else "", table(rows if isinstance(rows, list) else []))
    flow = _read_csv(d / "gradient_flow.csv")
    if flow is not None:
        page.section("Gradient flow", page.figure(figures.gradient_flow(flow)))
    target = Path(out) if out is not None else d / "report.html"
    text = page.render()
    write_atomic(target, lambda f: f.write(text), mode="w")
    return target


def _progress_report(d: Path, progress: dict, target: Path) -> Path:
    """The page of an unfinished ``netrx improve``: where it is, its decisions and the
    bias/variance of each step so far (rewritten after every step; refresh to follow)."""
    from netrx.files import write_atomic

    page = Page(f"netrx improve — {progress.get('name', d.name)} (in progress)",
                f"dataset {progress.get('dataset')} · {progress.get('task')} · last completed "
                f"step {progress.get('step')} · {progress.get('spent')} s of "
                f"{progress.get('budget')} s")
    rows = [{"": k, "value": progress.get(k)} for k in ("step", "spent", "budget", "families")]
    page.section("Progress", "<p>The run is not finished: this page is rewritten after every "
                 "step.</p>", table(rows, ["", "value"]))
    decisions = _read_json(d / "decisions.json")
    if decisions:
        page.section("Decision log", table(decisions))
    steps = _read_json(d / "bias_variance.json")
    if steps:
        page.section("Bias and variance", page.figure(figures.bias_variance_bars(steps)))
    text = page.render()
    write_atomic(target, lambda f: f.write(text), mode="w")
    return target


def _data_section(page: Page, summary: dict, pre: dict) -> None:
    data = summary.get("data", {})
    rows = [{"": "dataset", "value": summary.get("dataset")},
            {"": "task", "value": summary.get("task")},
            {"": "input shape", "value": tuple(pre.get("input_shape", []))},
            {"": "classes", "value": ", ".join(map(str, summary.get("classes", []))) or "—"}]
    for part in ("train", "dev", "test"):
        if f"n_{part}" in data:
            rows.append({"": f"{part} examples", "value": data[f"n_{part}"]})
    columns = pre.get("columns") or []
    if columns and len(columns) <= 40:
        rows.append({"": "features", "value": ", ".join(map(str, columns))})
    page.section("Data", table(rows, ["", "value"]))


def _final_section(page: Page, summary: dict) -> None:
    best = summary.get("best", {})
    is_reg = summary.get("task") == "regression"
    metric = "MSE/σ²" if is_reg else "error"
    rows = [{"split": s, metric: best.get(f"{s}_error"), "loss": best.get(f"{s}_loss")}
            for s in ("train", "dev", "test") if f"{s}_error" in best]
    parts = [f"<p>Chosen model: member {esc(summary.get('best_member'))} "
             f"({esc(summary.get('chosen', 'best single member on dev'))}); the test set "
             "is evaluated once, for it.</p>", table(rows, ["split", metric, "loss"])]
    if not is_reg and best.get("test_error") is not None:
        parts.insert(1, f"<p class='verdict'>test accuracy {1 - best['test_error']:.2%}</p>")
    if is_reg and best.get("test_rmse") is not None:
        parts.insert(1, f"<p class='verdict'>test RMSE {best['test_rmse']:.4g}, MAE "
                        f"{best['test_mae']:.4g}, R² {best['test_r2']:.4f} (target units)</p>"
                        "<p>Errors are the MSE of the standardized target, MSE/σ² of the "
                        "training targets ≈ 1 − R².</p>")
    confusion = summary.get("confusion_matrix")
    if confusion:
        parts.append(page.figure(figures.confusion_matrix(confusion, summary.get("classes", []))))
    members = summary.get("member_table") or []
    if len(members) > 1:
        cols = [c for c in ("member", "lr", "dropout", "train_error", "dev_error", "status")
                if c in members[0]]
        parts.append("<h3>Members</h3>" + table(sorted(
            members, key=lambda m: (m.get("dev_error") is None, m.get("dev_error") or 0)), cols))
    page.section("Final metrics", *parts)


def _classification_sections(page: Page, d: Path, summary: dict) -> None:
    """Per-class metrics, ROC and precision–recall (binary) and calibration, from the
    chosen predictor's ``test_predictions.csv``."""
    preds = evaluation.read_class_predictions(d / "test_predictions.csv",
                                              list(summary.get("classes") or []))
    if preds is None:
        return
    metrics = per_class(preds.y, preds.pred, len(preds.classes))
    page.section("Per-class metrics (test set)",
                 "<p class='muted'>precision = TP/(TP+FP), recall = TP/(TP+FN), F1 their "
                 "harmonic mean; support = test examples of the class.</p>",
                 table(metrics.rows(preds.classes),
                       ["class", "precision", "recall", "f1", "support"]))
    if preds.binary:
        fig, area, ap = evaluation.roc_pr(preds)
        page.section("ROC and precision–recall (test set)",
                     f"<p class='verdict'>AUC {area:.4f} · average precision {ap:.4f} "
                     f"(positive class {esc(preds.classes[1])})</p>", page.figure(fig))
    rel = reliability(preds.y, preds.probs)
    page.section("Calibration (test set)",
                 f"<p class='verdict'>expected calibration error {rel.ece:.4f}</p>"
                 "<p class='muted'>ECE = Σ_b n_b/n |acc_b − conf_b| over 10 bins of the "
                 "largest predicted probability; bars below the diagonal mean "
                 "over-confidence.</p>", page.figure(evaluation.reliability_diagram(rel)))


def _importance_section(page: Page, importance: dict | None) -> None:
    """Permutation importance of a table's columns on dev (``importance_features.json``)."""
    fig = evaluation.importance_bars(importance) if isinstance(importance, dict) else None
    if fig is None:
        return
    page.section("Feature importance (dev set)",
                 f"<p class='muted'>Each column's values are shuffled across "
                 f"{esc(importance.get('rows'))} dev rows, {esc(importance.get('repeats'))} "
                 "times; the bar is the rise in dev error of the chosen model (a one-hot "
                 "text column is shuffled as one). ≈ 0: the model does not use it.</p>",
                 page.figure(fig))


def _search_section(page: Page, d: Path) -> None:
    trials = _read_csv(d / "trials.csv")
    if trials is None or not len(trials) or "state" not in trials:
        return
    log_keys = (_read_json(d / "search_space.json") or {}).get("log_keys", [])
    parts = [page.figure(figures.search_history(trials)),
             page.figure(figures.parallel_coordinates(trials, log_keys)),
             page.figure(figures.slices(trials, log_keys))]
    imp = _read_json(d / "importance.json")
    if imp:
        parts.append(page.figure(figures.importance(imp)))
    counts = trials["state"].value_counts().to_dict()
    parts.insert(0, f"<p>{len(trials)} trials: " + ", ".join(
        f"{esc(k.lower())} {v}" for k, v in counts.items()) + "</p>")
    page.section("Hyperparameter search", *parts)
