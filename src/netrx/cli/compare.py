"""``netrx compare RUN RUN …``: finished runs side by side (a table here and one HTML page
with the table and their learning curves overlaid)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console


def register(app: typer.Typer, friendly: Callable[..., Any], console: Console) -> None:
    """Add ``netrx compare`` to ``app`` (``friendly``: the app's error wrapper)."""

    @app.command()
    @friendly
    def compare(
        runs: Annotated[list[Path], typer.Argument(help="two finished run directories or more")],
        out: Annotated[Path, typer.Option(
            help="directory to write compare.html into")] = Path("."),
    ) -> None:
        """Compare finished runs side by side: a table and overlaid learning curves (HTML).

        Test and dev metrics, members, epochs, seconds and the hyperparameters that differ,
        then the dev error and training loss of each run's best member per epoch."""
        from rich.table import Table

        from netrx.cli.flags import out_file
        from netrx.report.compare import load_runs, table_rows, write_compare

        loaded = load_runs(runs)  # a bad path fails before anything is written
        target = out_file(out, "compare.html")
        rows, columns = table_rows(loaded)
        shown = Table("", *(_cell(row["run"]) for row in rows))  # a column per run
        for c in columns[1:]:
            shown.add_row(_cell(c), *(_cell(row.get(c)) for row in rows))
        console.print(shown)
        console.print(f"comparison written to {write_compare(loaded, target)}", highlight=False)


def _cell(value: object) -> str:
    from rich.markup import escape

    if value is None:
        return "—"
    return escape(f"{value:.4g}" if isinstance(value, float) else str(value))
