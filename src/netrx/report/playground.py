"""The optimizer playground: every optimizer of :mod:`netrx.optim` on 2-D test functions.

- an elongated quadratic f = ½(x² + 25y²): steep across, flat along — plain gradient
  descent zigzags across the valley, momentum averages the zigzag away;
- a saddle f = x² + y⁴/4 − y²/2 (saddle at the origin, minima at (0, ±1)): started on
  the ridge, plain gradient descent creeps away from it, adaptive methods leave fast;
- Rosenbrock's banana f = (1 − x)² + 100(y − x²)², minimum at (1, 1).

:func:`run` returns the trajectories; :func:`write` renders a PNG (matplotlib: contours
with the paths, and the loss curves) and a self-contained HTML page (plotly, with
plotly.js embedded so the page works offline).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from netrx.errors import ConfigError
from netrx.optim.base import apply_updates
from netrx.optim.lbfgs import minimize
from netrx.registry import OPTIMIZERS


@dataclass(frozen=True)
class Surface:
    name: str
    f: Callable[[Tensor], Tensor]  # xy [..., 2] -> f [...]
    start: tuple[float, float]
    minimum: float  # the lowest value, for the loss curves f − f*
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    lr: dict[str, float] = field(default_factory=dict)  # step size per optimizer
    steps: int = 200  # default number of steps
    log_levels: bool = False


def _quadratic(p: Tensor) -> Tensor:
    return 0.5 * (p[..., 0] ** 2 + 25.0 * p[..., 1] ** 2)


def _saddle(p: Tensor) -> Tensor:
    return p[..., 0] ** 2 + p[..., 1] ** 4 / 4 - p[..., 1] ** 2 / 2


def _rosenbrock(p: Tensor) -> Tensor:
    return (1 - p[..., 0]) ** 2 + 100.0 * (p[..., 1] - p[..., 0] ** 2) ** 2


FUNCTIONS: dict[str, Surface] = {
    "elongated quadratic": Surface(
        "elongated quadratic", _quadratic, (-4.5, 1.2), 0.0, (-5, 5), (-1.6, 1.6),
        {"sgd": 0.077, "momentum": 0.1, "heavy_ball": 0.02, "nesterov": 0.02,
         "adagrad": 1.0, "rmsprop": 0.05, "adam": 0.1, "adamw": 0.1}, steps=150),
    "saddle": Surface(
        "saddle", _saddle, (-2.0, 1e-3), -0.25, (-2.2, 2.2), (-1.6, 1.6),
        {"sgd": 0.05, "momentum": 0.05, "heavy_ball": 0.01, "nesterov": 0.01,
         "adagrad": 0.5, "rmsprop": 0.02, "adam": 0.05, "adamw": 0.05}, steps=200),
    "rosenbrock": Surface(
        "rosenbrock", _rosenbrock, (-1.5, 2.0), 0.0, (-2, 2), (-1, 3),
        {"sgd": 1.5e-3, "momentum": 3e-3, "heavy_ball": 4e-4, "nesterov": 4e-4,
         "adagrad": 0.3, "rmsprop": 0.01, "adam": 0.05, "adamw": 0.05}, steps=1000,
        log_levels=True),
}

#: optimizer -> extra hyperparameters used in the playground (the notes' defaults otherwise)
EXTRA = {"momentum": {"beta": 0.9}, "heavy_ball": {"rho": 0.9}, "nesterov": {"rho": 0.9},
         "adamw": {"weight_decay": 0.01}}
#: the optimizers of :data:`~netrx.registry.OPTIMIZERS` the playground runs (each has a
#: step size on every surface), in this order
ORDER = ("sgd", "momentum", "heavy_ball", "nesterov", "adagrad", "rmsprop", "adam", "adamw",
         "lbfgs")


@dataclass
class Trajectory:
    optimizer: str
    lr: float
    path: Tensor  # [steps + 1, 2]
    loss: Tensor  # [steps + 1], f − f*


def _first_order(fn: Surface, name: str, steps: int) -> Trajectory:
    lr = fn.lr[name]
    opt = OPTIMIZERS.get(name)(lr=lr, **EXTRA.get(name, {}))
    params = {"xy": torch.tensor([fn.start], dtype=torch.float64)}
    state = opt.init(params)
    path = [params["xy"][0].clone()]
    for _ in range(steps):
        p = params["xy"].detach().requires_grad_(True)
        (g,) = torch.autograd.grad(fn.f(p).sum(), p)
        updates, state = opt.update({"xy": g}, state, params)
        apply_updates(params, updates)
        path.append(params["xy"][0].clone())
    xy = torch.stack(path)
    return Trajectory(name, lr, xy, fn.f(xy) - fn.minimum)


def _lbfgs(fn: Surface, steps: int) -> Trajectory:
    res = minimize(fn.f, torch.tensor(fn.start, dtype=torch.float64), max_iter=steps,
                   record=True, tolerance_grad=1e-10, tolerance_change=1e-14)
    xy = torch.stack(res.path)
    return Trajectory("lbfgs", 1.0, xy, fn.f(xy) - fn.minimum)


def run(steps: int | None = None, functions: list[str] | None = None,
        optimizers: list[str] | None = None) -> dict[str, list[Trajectory]]:
    """Run every optimizer (L-BFGS: up to ``steps`` iterations) on every test function, for
    ``steps`` steps or each function's default (150, 200 and 1000)."""
    if steps is not None and int(steps) < 1:
        raise ConfigError(f"steps={steps!r} must be ≥ 1")
    names = list(FUNCTIONS) if functions is None else functions
    opts = list(ORDER) if optimizers is None else optimizers
    for n in names:
        if n not in FUNCTIONS:
            from netrx.errors import unknown_choice

            raise unknown_choice("test function", n, FUNCTIONS)
    for o in opts:
        if o not in ORDER:
            from netrx.errors import unknown_choice

            raise unknown_choice("optimizer", o, ORDER)
    out: dict[str, list[Trajectory]] = {}
    for n in names:
        fn = FUNCTIONS[n]
        k = fn.steps if steps is None else int(steps)
        out[n] = [_lbfgs(fn, k) if o == "lbfgs" else _first_order(fn, o, k) for o in opts]
    return out


def _grid(fn: Surface, n: int = 160) -> tuple[Tensor, Tensor, Tensor]:
    xs = torch.linspace(*fn.xlim, n, dtype=torch.float64)
    ys = torch.linspace(*fn.ylim, n, dtype=torch.float64)
    X, Y = torch.meshgrid(xs, ys, indexing="xy")
    Z = fn.f(torch.stack([X, Y], dim=-1))
    return xs, ys, Z


def _levels(fn: Surface, Z: Tensor) -> list[float]:
    if fn.log_levels:
        return [10 ** e for e in torch.linspace(-1, math.log10(float(Z.max())), 14).tolist()]
    return torch.linspace(float(Z.min()), float(Z.max()), 25).tolist()


def write_png(results: dict[str, list[Trajectory]], path: str | Path) -> Path:
    """Contours with the trajectories (top) and f − f* per step (bottom), one column per
    test function."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("the playground PNG needs matplotlib: pip install matplotlib") \
            from None

    path = Path(path)
    cols = len(results)
    fig = Figure(figsize=(5.2 * cols, 9))  # no pyplot: the caller's backend is left alone
    axes = fig.subplots(2, cols, squeeze=False)
    colors = matplotlib.colormaps["tab10"]
    for j, (name, trajs) in enumerate(results.items()):
        fn = FUNCTIONS[name]
        xs, ys, Z = _grid(fn)
        ax = axes[0][j]
        ax.contour(xs.numpy(), ys.numpy(), Z.numpy(), levels=_levels(fn, Z), colors="0.75",
                   linewidths=0.7)
        for i, tr in enumerate(trajs):
            p = tr.path.clamp(min=torch.tensor([fn.xlim[0], fn.ylim[0]], dtype=tr.path.dtype),
                              max=torch.tensor([fn.xlim[1], fn.ylim[1]], dtype=tr.path.dtype))
            ax.plot(p[:, 0].numpy(), p[:, 1].numpy(), "-", lw=1.3, color=colors(i),
                    label=tr.optimizer, marker="." if tr.optimizer == "lbfgs" else None, ms=4)
        ax.plot(*fn.start, "ko", ms=5)
        ax.set_xlim(fn.xlim)
        ax.set_ylim(fn.ylim)
        ax.set_title(name)
        ax = axes[1][j]
        for i, tr in enumerate(trajs):
            ax.semilogy(tr.loss.clamp(min=1e-12).numpy(), color=colors(i), lw=1.3,
                        label=tr.optimizer)
        ax.set_xlabel("step (L-BFGS: iteration)")
        ax.set_ylabel("f − f*")
        ax.set_ylim(1e-12, None)
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.suptitle("netrx optimizer playground", fontsize=14)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=90, format="png")
    tmp.replace(path)
    return path


def write_html(results: dict[str, list[Trajectory]], path: str | Path,
               title: str = "netrx optimizer playground") -> Path:
    """An interactive page: per test function, contours + trajectories and loss curves
    (plotly; plotly.js is embedded, the page needs no network)."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    path = Path(path)
    colors = qualitative.Plotly
    parts = []
    for j, (name, trajs) in enumerate(results.items()):
        fn = FUNCTIONS[name]
        xs, ys, Z = _grid(fn, 120)
        z = Z.log10() if fn.log_levels else Z
        contour = go.Figure(go.Contour(x=xs.tolist(), y=ys.tolist(), z=z.tolist(),
                                       colorscale="Greys", showscale=False, opacity=0.45,
                                       contours={"coloring": "lines"}, hoverinfo="skip"))
        curves = go.Figure()
        for i, tr in enumerate(trajs):
            label = f"{tr.optimizer} (α={tr.lr:g})"
            contour.add_trace(go.Scatter(x=tr.path[:, 0].tolist(), y=tr.path[:, 1].tolist(),
                                         mode="lines+markers", marker={"size": 3},
                                         line={"color": colors[i % len(colors)]}, name=label))
            curves.add_trace(go.Scatter(y=tr.loss.clamp(min=1e-12).tolist(), mode="lines",
                                        line={"color": colors[i % len(colors)]}, name=label))
        contour.update_layout(title=f"{name}: trajectories", xaxis={"range": list(fn.xlim)},
                              yaxis={"range": list(fn.ylim)}, height=520)
        curves.update_layout(title=f"{name}: f − f*", yaxis={"type": "log"},
                             xaxis={"title": "step (L-BFGS: iteration)"}, height=420)
        first = j == 0
        parts.append(f"<h2>{html.escape(name)}</h2>")
        parts.append(contour.to_html(full_html=False, include_plotlyjs=True if first else False))
        parts.append(curves.to_html(full_html=False, include_plotlyjs=False))
    page = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title></head><body style=\"font-family:sans-serif\">"
            f"<h1>{html.escape(title)}</h1>\n" + "\n".join(parts) + "\n</body></html>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def write(out: str | Path = "playground", steps: int | None = None) -> dict[str, Any]:
    """Run the playground and write ``out/playground.png`` and ``out/playground.html``."""
    results = run(steps)
    out = Path(out)
    return {"png": write_png(results, out / "playground.png"),
            "html": write_html(results, out / "playground.html"), "results": results}
