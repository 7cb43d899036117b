"""Plotly figures of a study, from what ``netrx tune`` wrote (``plots.json``,
``importance.json``): pure functions from data to ``plotly.graph_objects.Figure``.

Each searched key comes with its axis in ``plots.json``: ``log`` for α-like keys
(``log_uniform``) and for β (``one_minus_log``, drawn as 1 − β, so that 0.9, 0.99 and
0.999 are evenly apart), ``category`` for choices, ``linear`` otherwise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from netrx.report.figures import _LAYOUT, color


def _go():
    import plotly.graph_objects as go

    return go


def spans_decades(values: Sequence[Any], factor: float = 10.0) -> bool:
    """Whether the finite values are all > 0 and the largest is ``factor`` times the
    smallest or more (then a log axis shows them better)."""
    v = [float(x) for x in values if isinstance(x, (int, float)) and math.isfinite(x)]
    return len(v) > 1 and min(v) > 0 and max(v) / min(v) >= factor


def label(param: dict[str, Any]) -> str:
    """The axis title of a key: ``1 − optimizer.b1`` for a β, else the key."""
    return f"1 − {param['key']}" if param.get("scale") == "one_minus_log" else param["key"]


def shown(param: dict[str, Any], value: Any) -> Any:
    """A value as drawn on the key's axis: 1 − β for a β, text for a choice."""
    if param.get("axis") == "category":
        return value if isinstance(value, str) else json.dumps(value)
    if value is None or isinstance(value, str):
        return None
    if param.get("scale") == "one_minus_log":
        return 1.0 - float(value)
    return float(value)


def searched(param: dict[str, Any]) -> tuple[float, float] | None:
    """The searched range of a numeric key as drawn (1 − β for a β: reversed ends), in
    log10 for a log axis; None for a choice or when unknown."""
    bounds = param.get("range")
    if param.get("axis") == "category" or not bounds or len(bounds) != 2:
        return None
    ends = sorted(v for v in (shown(param, bounds[0]), shown(param, bounds[1])) if v is not None)
    if len(ends) != 2:
        return None
    if param.get("axis") == "log":
        if ends[0] <= 0:
            return None
        return math.log10(ends[0]), math.log10(ends[1])
    return ends[0], ends[1]


def _padded(span: tuple[float, float], pad: float = 0.04) -> list[float]:
    width = (span[1] - span[0]) or 1.0
    return [span[0] - pad * width, span[1] + pad * width]


def history(plots: dict[str, Any]) -> Any | None:
    """Each trial's dev metric in order (completed ones, pruned ones at their last report)
    and the best completed so far."""
    rows = plots.get("history") or []
    if not rows:
        return None
    go = _go()
    fig = go.Figure()
    for state, symbol, name in (("COMPLETE", "circle", "completed"),
                                ("PRUNED", "x", "pruned (last report)")):
        part = [r for r in rows if r.get("state") == state and r.get("value") is not None]
        if part:
            fig.add_trace(go.Scatter(x=[r["number"] for r in part], y=[r["value"] for r in part],
                                     mode="markers", name=name,
                                     marker=dict(symbol=symbol, size=7,
                                                 color=color(0 if state == "COMPLETE" else 3))))
    best = [r for r in rows if r.get("best_so_far") is not None]
    if best:
        fig.add_trace(go.Scatter(x=[r["number"] for r in best], y=[r["best_so_far"] for r in best],
                                 mode="lines", name="best so far", line=dict(color=color(1),
                                                                             shape="hv")))
    values = [r.get("value") for r in rows]
    fig.update_layout(**_LAYOUT, title="Optimization history", xaxis_title="trial",
                      yaxis_title="dev metric",
                      yaxis_type="log" if spans_decades(values) else "linear")
    return fig


def _dimension(param: dict[str, Any], values: list[Any]) -> dict[str, Any] | None:
    """One axis of the parallel coordinates: log10 for log keys (decades as ticks), the
    index of the choice for categories."""
    if param.get("axis") == "category":
        choices = [shown(param, c) for c in param.get("choices", [])]
        texts = [shown(param, v) for v in values]
        for t in texts:
            if t not in choices:
                choices.append(t)
        return dict(label=param["key"], values=[choices.index(t) for t in texts],
                    range=[0, max(1, len(choices) - 1)], tickvals=list(range(len(choices))),
                    ticktext=choices)
    nums = [shown(param, v) for v in values]
    if any(x is None for x in nums):
        return None
    if param.get("axis") == "log":
        if any(x <= 0 for x in nums):
            return None
        logs = [math.log10(x) for x in nums]
        span = searched(param) or (min(logs), max(logs))
        span = (min(span[0], *logs), max(span[1], *logs))
        ticks = list(range(math.ceil(span[0]), math.floor(span[1]) + 1)) or \
            [round(span[0], 1), round(span[1], 1)]
        return dict(label=label(param), values=logs, range=list(span), tickvals=ticks,
                    ticktext=[f"1e{k}" if float(k).is_integer() else f"{10 ** k:.2g}"
                              for k in ticks])
    span = searched(param)
    if span is not None:
        return dict(label=label(param), values=nums,
                    range=[min(span[0], *nums), max(span[1], *nums)])
    return dict(label=label(param), values=nums)


def parallel_coordinates(plots: dict[str, Any]) -> Any | None:
    """Every completed trial as a line through its keys (log keys on log axes), coloured
    by its dev metric (the last axis)."""
    rows = [r for r in plots.get("parallel") or []
            if r.get("state") == "COMPLETE" and r.get("value") is not None]
    params = [p for p in plots.get("params") or [] if all(p["key"] in r for r in rows)]
    if not rows or not params:
        return None
    dims = [d for p in params if (d := _dimension(p, [r[p["key"]] for r in rows])) is not None]
    if not dims:
        return None
    values = [r["value"] for r in rows]
    dims.append(dict(label="dev metric", values=values))
    go = _go()
    fig = go.Figure(go.Parcoords(line=dict(color=values, colorscale="Viridis_r",
                                           showscale=True), dimensions=dims))
    fig.update_layout(**{**_LAYOUT, "margin": dict(l=80, r=80, t=80, b=40)},
                      title="Parallel coordinates (completed trials)")
    return fig


def importance(imp: dict[str, Any] | None) -> Any | None:
    """fANOVA importance of each key as horizontal bars (None when not available)."""
    if not imp or not imp.get("available") or not imp.get("keys"):
        return None
    go = _go()
    items = sorted(imp["keys"], key=lambda k: k.get("importance", 0.0))
    fig = go.Figure(go.Bar(x=[k.get("importance") for k in items],
                           y=[k.get("key") for k in items], orientation="h",
                           marker=dict(color=color(0))))
    fig.update_layout(**{**_LAYOUT, "height": max(260, 60 + 40 * len(items))},
                      title=f"Hyperparameter importance ({imp.get('method', 'fANOVA')}, "
                            f"{imp.get('completed_trials', '?')} completed trials)",
                      xaxis_title="share of the variance of the dev metric")
    return fig


def slices(plots: dict[str, Any]) -> Any | None:
    """The dev metric of the completed trials against each key, on the key's own scale:
    log x axes for α-like keys and for 1 − β."""
    from plotly.subplots import make_subplots

    params = [p for p in plots.get("params") or []
              if (plots.get("slices") or {}).get(p["key"], {}).get("x")]
    if not params:
        return None
    go = _go()
    ncols = min(3, len(params))
    nrows = math.ceil(len(params) / ncols)
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=[label(p) for p in params],
                        horizontal_spacing=0.08, vertical_spacing=0.3 / nrows)
    all_y: list[Any] = []
    for i, p in enumerate(params):
        r, c = i // ncols + 1, i % ncols + 1
        data = plots["slices"][p["key"]]
        xs = [shown(p, x) for x in data["x"]]
        keep = [(x, y) for x, y in zip(xs, data["y"]) if x is not None and y is not None]
        all_y += [y for _, y in keep]
        fig.add_trace(go.Scatter(x=[x for x, _ in keep], y=[y for _, y in keep], mode="markers",
                                 showlegend=False, marker=dict(size=7, color=color(0),
                                                               opacity=0.8),
                                 hovertemplate=f"{label(p)} = %{{x}}<br>dev %{{y:.4g}}"
                                               "<extra></extra>"), row=r, col=c)
        span = searched(p)
        if p.get("axis") == "log":
            fig.update_xaxes(type="log", row=r, col=c)
        if span is not None:  # the whole searched range: where the trials fell in it
            fig.update_xaxes(range=_padded(span), row=r, col=c)
        elif p.get("axis") == "category":
            fig.update_xaxes(type="category", row=r, col=c)
    if spans_decades(all_y):
        fig.update_yaxes(type="log")
    fig.update_yaxes(title_text="dev metric", col=1)
    fig.update_layout(**{**_LAYOUT, "height": 320 * nrows},
                      title="Slices: dev metric against each hyperparameter")
    return fig


def trial_curves(plots: dict[str, Any], best: int | None = None, limit: int = 300) -> Any | None:
    """The dev metric after each epoch of every trial (pruned ones stop early), the best
    trial drawn over the others."""
    curves = plots.get("curves") or {}
    if not curves:
        return None
    go = _go()
    fig = go.Figure()
    numbers = sorted(curves, key=int)[:limit]
    values: list[Any] = []
    for n in numbers:
        ys = curves[n]
        values += ys
        if best is not None and int(n) == best:
            continue
        fig.add_trace(go.Scatter(x=list(range(1, len(ys) + 1)), y=ys, mode="lines",
                                 line=dict(color="rgba(120,130,150,0.35)", width=1),
                                 name=f"trial {n}", showlegend=False))
    if best is not None and str(best) in curves:
        ys = curves[str(best)]
        fig.add_trace(go.Scatter(x=list(range(1, len(ys) + 1)), y=ys, mode="lines",
                                 line=dict(color=color(1), width=3), name=f"best: trial {best}"))
    fig.update_layout(**_LAYOUT, title="Learning curves of the trials (dev metric per epoch)",
                      xaxis_title="epoch", yaxis_title="dev metric",
                      yaxis_type="log" if spans_decades(values) else "linear")
    return fig
