"""``netrx gradcheck`` and ``netrx diagnose``: the notes' checks of a model and a run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console


def register(app: typer.Typer, friendly: Callable[..., Any], console: Console) -> None:
    """Add ``gradcheck`` and ``diagnose`` to ``app`` (``friendly``: the app's error
    wrapper)."""

    @app.command()
    @friendly
    def gradcheck(
        config: Annotated[Path, typer.Argument(help="YAML config of the model to check")],
        after_epochs: Annotated[int, typer.Option(
            help="also check after this many epochs of the configured training")] = 0,
        coords: Annotated[int, typer.Option(
            help="coordinates checked per tensor (seeded random subset; 0 = all)")] = 100,
        eps: Annotated[float, typer.Option(help="ε of the two-sided difference")] = 1e-7,
        member: Annotated[int, typer.Option(help="population member to check")] = 0,
        batch_size: Annotated[int, typer.Option(help="size of the fixed training batch")] = 32,
    ) -> None:
        """Check backprop against two-sided differences of J = loss + penalties, per tensor.

        Exit status 0 when the verdict is great / fine / look again, 1 when it is a bug."""
        import warnings

        from netrx.config import load_config
        from netrx.diagnose import GradCheckWarning, gradcheck_config
        from netrx.diagnose.render import gradcheck_table

        cfg = load_config(config)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GradCheckWarning)  # printed below instead
            results = gradcheck_config(cfg, after_epochs=after_epochs, member=member,
                                       coords=None if coords == 0 else coords, eps=eps,
                                       batch_size=batch_size)
        for result in results:
            console.print(gradcheck_table(result))
            for off in result.switched_off:
                console.print(f"[yellow]switched off for the check:[/] {off}", highlight=False)
            console.print(result.summary(), highlight=False)
        if any(r.is_bug for r in results):
            raise typer.Exit(1)


    @app.command()
    @friendly
    def diagnose(
        path: Annotated[Path, typer.Argument(
            help="a finished run directory (or, with --learning-curve, a YAML config)")],
        target_error: Annotated[float | None, typer.Option(
            help="Bayes / human error proxy (default: data.target_error of the config, else 0)")]
        = None,
        all_members: Annotated[bool, typer.Option("--all", help="every member, not only the best")]
        = False,
        bias_threshold: Annotated[float, typer.Option(
            help="high bias when train − target exceeds this")] = 0.02,
        variance_threshold: Annotated[float, typer.Option(
            help="high variance when dev − train exceeds this")] = 0.02,
        learning_curve: Annotated[bool, typer.Option(
            "--learning-curve", help="train on growing fractions of the training set of CONFIG")]
        = False,
        fractions: Annotated[str | None, typer.Option(
            help="learning-curve fractions, e.g. 0.1,0.2,0.5,1")] = None,
        png: Annotated[Path | None, typer.Option(
            help="learning-curve plot (default: <out>/learning-curve-<dataset>.png)")] = None,
    ) -> None:
        """Bias / variance verdict and the basic recipe for a finished run, or learning curves."""
        from netrx.diagnose import diagnose_run
        from netrx.diagnose import learning_curve as make_curve
        from netrx.diagnose.render import print_learning_curve, print_verdict

        thresholds = {"bias_threshold": bias_threshold, "variance_threshold": variance_threshold}
        if learning_curve:
            from netrx.config import load_config

            cfg = load_config(path)
            curve = make_curve(cfg, fractions, target_error=target_error)
            print_learning_curve(console, curve, **thresholds)
            out = png or Path(cfg.out) / f"learning-curve-{Path(cfg.data.dataset).stem}.png"
            console.print(f"plot written to {curve.plot(out)}")
            return
        verdict = diagnose_run(path, target_error=target_error, all_members=all_members,
                               **thresholds)
        print_verdict(console, verdict, all_members=all_members)
