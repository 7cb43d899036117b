"""What the report shows of the chosen model beyond its error, read from the run directory:
per-class precision / recall / F1, ROC and precision–recall curves (binary tasks) and a
reliability diagram, all from ``test_predictions.csv``; and the permutation importance
of a table's columns on dev, from ``importance_features.json``.

:func:`read_class_predictions` turns the CSV back into label indices and probabilities;
the figures are pure functions of the metrics of :mod:`netrx.diagnose.classification`.
User strings (class and column names) reach plotly escaped by :func:`figures.plain`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from netrx.diagnose.classification import (
    Reliability,
    auc,
    average_precision,
    precision_recall_curve,
    roc_curve,
)
from netrx.report.figures import _LAYOUT, _go, color, plain

#: bars in the feature-importance chart at most (the largest)
MAX_BARS = 30


@dataclass(frozen=True)
class ClassPredictions:
    """A classifier's test predictions: labels ``y`` and ``pred`` (indices into
    ``classes``) and probabilities ``probs`` [n, C]."""

    classes: list[str]
    y: np.ndarray
    pred: np.ndarray
    probs: np.ndarray

    @property
    def binary(self) -> bool:
        """Two classes, both present in y: ROC and precision–recall apply."""
        return len(self.classes) == 2 and len(np.unique(self.y)) == 2


def read_class_predictions(path: Path, classes: list[str]) -> ClassPredictions | None:
    """``test_predictions.csv`` of a classification run (columns ``y``, ``prediction``,
    ``p_<class>``); None when the file is missing, empty or of another layout."""
    if not path.is_file() or not classes:
        return None
    names = [str(c) for c in classes]
    frame = pd.read_csv(path, dtype={"y": str, "prediction": str}, keep_default_na=False)
    columns = [f"p_{c}" for c in names]
    if not len(frame) or any(c not in frame for c in ("y", "prediction", *columns)):
        return None
    index = {c: i for i, c in enumerate(names)}
    y, pred = frame["y"].map(index), frame["prediction"].map(index)
    probs = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    keep = (y.notna() & pred.notna()).to_numpy() & np.isfinite(probs).all(1)
    if not keep.any():
        return None
    return ClassPredictions(names, y.to_numpy()[keep].astype(np.int64),
                            pred.to_numpy()[keep].astype(np.int64), probs[keep])


def roc_pr(preds: ClassPredictions) -> tuple[Any, float, float]:
    """ROC and precision–recall curves of a binary task (positive class: class 1), with
    AUC and average precision; chance lines: the diagonal, and precision = P/n."""
    from plotly.subplots import make_subplots

    go = _go()
    positive = (preds.y == 1).astype(np.int64)
    score = preds.probs[:, 1]
    fpr, tpr, _ = roc_curve(positive, score)
    area = auc(fpr, tpr)
    precision, recall, _ = precision_recall_curve(positive, score)
    ap = average_precision(positive, score)
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        f"ROC (AUC {area:.3f})", f"precision–recall (AP {ap:.3f})"))
    fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", line=dict(color=color(0)),
                             name="ROC"), row=1, col=1)
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                             line=dict(color="gray", dash="dash")), row=1, col=1)
    fig.add_trace(go.Scatter(x=recall, y=precision, mode="lines", line=dict(color=color(1)),
                             name="precision–recall", line_shape="vh"), row=1, col=2)
    base = float(positive.mean())
    fig.add_trace(go.Scatter(x=[0, 1], y=[base, base], mode="lines", showlegend=False,
                             line=dict(color="gray", dash="dash")), row=1, col=2)
    fig.update_xaxes(title_text="false positive rate", range=[0, 1], row=1, col=1)
    fig.update_yaxes(title_text="true positive rate (recall)", range=[0, 1.02], row=1, col=1)
    fig.update_xaxes(title_text="recall", range=[0, 1], row=1, col=2)
    fig.update_yaxes(title_text="precision", range=[0, 1.02], row=1, col=2)
    fig.update_layout(**_LAYOUT, title=f"Test set, positive class {plain(preds.classes[1])}")
    return fig, area, ap


def reliability_diagram(rel: Reliability) -> Any:
    """Accuracy against mean confidence per bin (a calibrated model lies on the diagonal;
    below it: over-confident) above the number of test examples per bin."""
    from plotly.subplots import make_subplots

    go = _go()
    centres = (rel.edges[:-1] + rel.edges[1:]) / 2
    width = float(np.diff(rel.edges)[0])
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28],
                        vertical_spacing=0.06)
    text = [f"n = {n}" for n in rel.count]
    fig.add_trace(go.Bar(x=centres, y=rel.accuracy, width=width * 0.95, name="accuracy",
                         marker_color=color(0), hovertext=text), row=1, col=1)
    fig.add_trace(go.Scatter(x=rel.confidence, y=rel.accuracy, mode="markers",
                             name="(mean confidence, accuracy)",
                             marker=dict(color=color(1), size=8)), row=1, col=1)
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="calibrated",
                             line=dict(color="gray", dash="dash")), row=1, col=1)
    fig.add_trace(go.Bar(x=centres, y=rel.count, width=width * 0.95, name="examples",
                         marker_color="#9aa3b5", showlegend=False), row=2, col=1)
    fig.update_xaxes(range=[0, 1], row=1, col=1)
    fig.update_xaxes(title_text="confidence (largest predicted probability)", range=[0, 1],
                     row=2, col=1)
    fig.update_yaxes(title_text="accuracy", range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(title_text="examples", row=2, col=1)
    fig.update_layout(**{**_LAYOUT, "height": 460},
                      title=f"Reliability diagram (test set), ECE {rel.ece:.3f}")
    return fig


def importance_bars(importance: dict[str, Any]) -> Any | None:
    """Permutation importance: the rise in dev error per column, mean ± sd over the
    shuffles, the largest :data:`MAX_BARS` with the largest on top."""
    features = [f for f in importance.get("features") or [] if f.get("mean") is not None]
    if not features:
        return None
    go = _go()
    top = sorted(features, key=lambda f: f["mean"], reverse=True)[:MAX_BARS][::-1]
    fig = go.Figure(go.Bar(
        x=[f["mean"] for f in top], y=[plain(f.get("column")) for f in top], orientation="h",
        error_x=dict(type="data", array=[f.get("sd") or 0.0 for f in top]),
        marker_color=color(0)))
    shown = "" if len(features) <= MAX_BARS else f", the {MAX_BARS} largest of {len(features)}"
    fig.update_layout(**{**_LAYOUT, "height": max(300, 60 + 22 * len(top))},
                      title=f"Permutation importance on dev ({importance.get('repeats')} "
                            f"shuffles{shown})",
                      xaxis_title="rise in dev error when shuffled (mean ± sd)")
    fig.update_yaxes(type="category")
    return fig
