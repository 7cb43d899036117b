"""Plotly figures of a run: pure functions from data to ``plotly.graph_objects.Figure``.

Every figure is built from what the run directory stores (history, summary,
trials, diagnostics), never from live objects, so a report can be rebuilt
from a finished run at any time.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

_LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=50, b=50), height=380)


def color(k: int) -> str:
    """One colour per member, the same in every figure."""
    from plotly.colors import qualitative

    palette = qualitative.Plotly + qualitative.D3
    return palette[int(k) % len(palette)]


def plain(text: Any) -> str:
    """A user string (class, column name) for a plotly label: ``<``, ``>`` and ``&`` as
    entities, so that plotly shows a ``<b>`` in a name instead of obeying it."""
    return html.escape(str(text), quote=False)


def _go():
    import plotly.graph_objects as go

    return go


def learning_curves(history: pd.DataFrame, max_members: int = 16,
                    log_error: bool = False) -> Any:
    """Train loss and dev error per member against the epoch (two panels; the loss on a
    log axis, the error too with ``log_error``: regression errors span decades)."""
    from plotly.subplots import make_subplots

    go = _go()
    fig = make_subplots(rows=1, cols=2, subplot_titles=("train loss", "dev error"))
    members = sorted(history["member"].unique())
    if len(members) > max_members:  # keep the best by final dev error
        last = history.sort_values("epoch").groupby("member").last()
        key = "dev_error" if last["dev_error"].notna().any() else "train_error"
        members = list(last[key].sort_values().index[:max_members])
    for k in members:
        h = history[history["member"] == k].sort_values("epoch")
        line = dict(color=color(k))
        fig.add_trace(go.Scatter(x=h["epoch"], y=h["train_loss"], mode="lines", line=line,
                                 name=f"member {k}", legendgroup=str(k)), row=1, col=1)
        if h["dev_error"].notna().any():
            fig.add_trace(go.Scatter(x=h["epoch"], y=h["dev_error"], mode="lines", line=line,
                                     name=f"member {k}", legendgroup=str(k), showlegend=False),
                          row=1, col=2)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(type="log", row=1, col=1)
    if log_error:
        fig.update_yaxes(type="log", row=1, col=2)
    fig.update_layout(**_LAYOUT, title="Learning curves")
    return fig


def predicted_vs_actual(frame: pd.DataFrame) -> Any:
    """Regression, on the test set: ŷ against y (the diagonal ŷ = y is a perfect fit) and
    the residual y − ŷ against ŷ (structure left in it is signal the model missed)."""
    from plotly.subplots import make_subplots

    go = _go()
    y, pred = frame["y"].to_numpy(float), frame["prediction"].to_numpy(float)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("predicted vs actual",
                                                        "residual vs predicted"))
    lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    fig.add_trace(go.Scatter(x=y, y=pred, mode="markers", marker=dict(color=color(0), size=5),
                             name="test examples"), row=1, col=1)
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="ŷ = y",
                             line=dict(color="gray", dash="dash")), row=1, col=1)
    fig.add_trace(go.Scatter(x=pred, y=y - pred, mode="markers", showlegend=False,
                             marker=dict(color=color(1), size=5)), row=1, col=2)
    fig.add_hline(y=0, line=dict(color="gray", dash="dash"), row=1, col=2)
    fig.update_xaxes(title_text="actual y", row=1, col=1)
    fig.update_yaxes(title_text="predicted ŷ", row=1, col=1)
    fig.update_xaxes(title_text="predicted ŷ", row=1, col=2)
    fig.update_yaxes(title_text="y − ŷ", row=1, col=2)
    fig.update_layout(**_LAYOUT, title="Test predictions (target units)")
    return fig


def learning_rates(history: pd.DataFrame) -> Any | None:
    """The learning rate each member used, per epoch (log axis)."""
    if "lr" not in history or history["lr"].isna().all():
        return None
    go = _go()
    fig = go.Figure()
    for k in sorted(history["member"].unique()):
        h = history[history["member"] == k].sort_values("epoch")
        fig.add_trace(go.Scatter(x=h["epoch"], y=h["lr"], mode="lines", name=f"member {k}",
                                 line=dict(color=color(k))))
    fig.update_layout(**_LAYOUT, title="Learning-rate schedules", xaxis_title="epoch",
                      yaxis_title="α", yaxis_type="log")
    return fig


def confusion_matrix(matrix: Sequence[Sequence[int]], classes: Sequence[str]) -> Any:
    """Test-set confusion matrix of the chosen model (rows: true, columns: predicted)."""
    go = _go()
    m = np.asarray(matrix)
    labels = [plain(c) for c in classes] or [str(i) for i in range(len(m))]
    fig = go.Figure(go.Heatmap(z=m, x=labels, y=labels, colorscale="Blues",
                               text=m, texttemplate="%{text}", hovertemplate=
                               "true %{y}, predicted %{x}: %{z}<extra></extra>"))
    fig.update_layout(**_LAYOUT, title="Confusion matrix (test set)", xaxis_title="predicted",
                      yaxis_title="true", yaxis_autorange="reversed")
    return fig


def bias_variance_bars(steps: Sequence[dict[str, Any]]) -> Any:
    """Avoidable bias, variance and (if measured) dev/test mismatch for each step."""
    go = _go()
    names = [str(s.get("step", i)) for i, s in enumerate(steps)]
    fig = go.Figure()
    for key, label in (("avoidable_bias", "avoidable bias"), ("variance", "variance"),
                       ("mismatch", "dev/test mismatch")):
        values = [s.get(key) for s in steps]
        if any(v is not None for v in values):
            fig.add_trace(go.Bar(x=names, y=values, name=label))
    fig.update_layout(**_LAYOUT, title="Bias and variance at each step", barmode="group",
                      yaxis_title="error points")
    return fig


def _param_columns(trials: pd.DataFrame) -> list[str]:
    return [c for c in trials.columns if c.startswith("params_")]


def _is_log(values: pd.Series, log_keys: Sequence[str], name: str) -> bool:
    if name in log_keys:
        return True
    v = pd.to_numeric(values, errors="coerce").dropna()
    return bool(len(v) > 2 and (v > 0).all() and v.max() / v.min() > 100)


def search_history(trials: pd.DataFrame) -> Any:
    """Every trial's objective value in order, and the best so far."""
    go = _go()
    done = trials[trials["state"] == "COMPLETE"].sort_values("number")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=done["number"], y=done["value"], mode="markers", name="trial"))
    fig.add_trace(go.Scatter(x=done["number"], y=done["value"].cummin(), mode="lines",
                             name="best so far"))
    pruned = trials[trials["state"] == "PRUNED"]
    if len(pruned) and "value" in pruned and pruned["value"].notna().any():
        fig.add_trace(go.Scatter(x=pruned["number"], y=pruned["value"], mode="markers",
                                 name="pruned (last report)", marker=dict(symbol="x")))
    fig.update_layout(**_LAYOUT, title="Search history", xaxis_title="trial",
                      yaxis_title="dev error")
    return fig


def parallel_coordinates(trials: pd.DataFrame, log_keys: Sequence[str] = ()) -> Any | None:
    """Parallel coordinates of the numeric hyperparameters, coloured by dev error;
    log-scaled keys are shown as log10."""
    go = _go()
    done = trials[trials["state"] == "COMPLETE"]
    dims = []
    for col in _param_columns(done):
        values = pd.to_numeric(done[col], errors="coerce")
        if values.isna().all():
            continue
        name = col[len("params_"):]
        if _is_log(values, log_keys, name):
            dims.append(dict(label=f"log10 {name}", values=np.log10(values.astype(float))))
        else:
            dims.append(dict(label=name, values=values.astype(float)))
    if not dims or not len(done):
        return None
    dims.append(dict(label="dev error", values=done["value"]))
    fig = go.Figure(go.Parcoords(line=dict(color=done["value"], colorscale="Viridis_r",
                                           showscale=True), dimensions=dims))
    fig.update_layout(**_LAYOUT, title="Parallel coordinates")
    return fig


def slices(trials: pd.DataFrame, log_keys: Sequence[str] = ()) -> Any | None:
    """Dev error against each hyperparameter (log axes for log-scaled keys)."""
    from plotly.subplots import make_subplots

    go = _go()
    done = trials[trials["state"] == "COMPLETE"]
    cols = [c for c in _param_columns(done) if done[c].notna().any()]
    if not cols or not len(done):
        return None
    ncols = min(3, len(cols))
    nrows = math.ceil(len(cols) / ncols)
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=[c[7:] for c in cols])
    for i, col in enumerate(cols):
        r, c = i // ncols + 1, i % ncols + 1
        x = done[col]
        fig.add_trace(go.Scatter(x=x.astype(str) if x.dtype == object else x, y=done["value"],
                                 mode="markers", showlegend=False, marker=dict(size=6)),
                      row=r, col=c)
        if x.dtype != object and _is_log(x, log_keys, col[7:]):
            fig.update_xaxes(type="log", row=r, col=c)
    fig.update_layout(**{**_LAYOUT, "height": 300 * nrows}, title="Slices (dev error)")
    return fig


def importance(values: dict[str, float]) -> Any | None:
    """Hyperparameter importance (fANOVA) as horizontal bars."""
    if not values:
        return None
    go = _go()
    items = sorted(values.items(), key=lambda kv: kv[1])
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h"))
    fig.update_layout(**_LAYOUT, title="Hyperparameter importance (fANOVA)")
    return fig


def gradient_flow(records: pd.DataFrame, value: str = "grad_norm") -> Any | None:
    """Heatmap of a per-layer statistic (gradient norm by default) over epochs, log10."""
    if records is None or not len(records) or value not in records:
        return None
    go = _go()
    table = records.groupby(["layer", "epoch"])[value].mean().unstack("epoch")
    z = np.log10(np.maximum(table.to_numpy(dtype=float), 1e-30))
    fig = go.Figure(go.Heatmap(z=z, x=list(table.columns), y=list(table.index),
                               colorscale="Viridis", colorbar=dict(title="log10")))
    fig.update_layout(**_LAYOUT, title=f"Gradient flow: log10 {value} per layer",
                      xaxis_title="epoch")
    return fig
