"""``netrx lr-find``: the learning-rate range test (:mod:`netrx.diagnose.lr_find`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from netrx.cli.flags import DropOpt, FeaturesOpt, ImputeOpt, TargetOpt, TaskOpt

if TYPE_CHECKING:
    from netrx.diagnose.lr_find import LrFind


def register(app: typer.Typer, friendly: Callable[..., Any], console: Console) -> None:
    """Add ``lr-find`` to ``app`` (``friendly``: the app's error wrapper)."""

    @app.command("lr-find")
    @friendly
    def lr_find_command(
        config: Annotated[Path | None, typer.Argument(
            help="YAML run config (model, optimizer, regularization)")] = None,
        dataset: Annotated[str | None, typer.Option(
            help="built-in name or a .csv/.npz file")] = None,
        target: TargetOpt = None,
        task: TaskOpt = None,
        impute: ImputeOpt = None,
        drop: DropOpt = None,
        features: FeaturesOpt = None,
        lo: Annotated[float, typer.Option(help="lowest learning rate of the grid")] = 1e-6,
        hi: Annotated[float, typer.Option(help="highest learning rate of the grid")] = 1.0,
        rates: Annotated[int, typer.Option(
            help="rates on the exponential grid (one member each)")] = 24,
        steps: Annotated[int, typer.Option(help="updates of each member")] = 100,
        device: Annotated[str | None, typer.Option(help="auto, cpu or cuda")] = None,
        out: Annotated[Path, typer.Option(
            help="folder for lr_find.json and lr_find.html")] = Path("runs/lr-find"),
        json_out: Annotated[bool, typer.Option(
            "--json", help="print the result as JSON (for scripts)")] = False,
    ) -> None:
        """Learning-rate range test: one member per rate on an exponential grid, the loss
        after STEPS updates, and a suggested rate with its rule."""
        import json

        from netrx.cli.flags import train_config
        from netrx.diagnose.lr_find import lr_find
        from netrx.experiment import prepare
        from netrx.files import write_atomic, write_json

        cfg = train_config({"config": config, "dataset": dataset, "target": target,
                            "task": task, "impute": impute, "drop": drop,
                            "features": features, "device": device})
        result = lr_find(cfg, prepare(cfg), lo=lo, hi=hi, members=rates, steps=steps)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "lr_find.json", result.to_dict())
        html = _page(result)
        write_atomic(out / "lr_find.html", lambda f: f.write(html), mode="w")
        if json_out:
            print(json.dumps(result.to_dict()))
            return
        console.print(f"loss at the start {result.initial_loss:.4g}; after {result.steps} "
                      "steps:", highlight=False)
        for lr, loss in zip(result.lrs, result.losses):
            console.print(f"  α={lr:<10.3g} loss {loss:.4g}", highlight=False)
        if result.suggestion is not None:
            console.print(f"suggested α = {result.suggestion:.3g} ({result.rule})",
                          highlight=False)
        else:
            console.print(f"no suggestion: {result.rule}", highlight=False)
        console.print(f"plot: {out / 'lr_find.html'}", highlight=False)


def _page(result: LrFind) -> str:
    """The loss against α on a log axis, the starting loss and the suggestion."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_scatter(x=result.lrs, y=result.losses, mode="lines+markers",
                    name=f"loss after {result.steps} steps")
    fig.add_hline(y=result.initial_loss, line_dash="dot",
                  annotation_text="loss at the start")
    if result.suggestion is not None:
        fig.add_vline(x=result.suggestion, line_dash="dash",
                      annotation_text=f"suggested α={result.suggestion:.3g}")
    fig.update_layout(title="Learning-rate range test", xaxis_title="learning rate α",
                      yaxis_title="training loss", xaxis_type="log", template="plotly_white")
    return fig.to_html(include_plotlyjs=True, full_html=True)
