"""``netrx dashboard [STORAGE]``: optuna-dashboard over a netrx study, on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console


def register(app: typer.Typer, friendly: Callable[..., Any], console: Console) -> None:
    """Add ``netrx dashboard`` to ``app`` (``friendly``: the app's error wrapper)."""

    @app.command()
    @friendly
    def dashboard(
        storage: Annotated[str | None, typer.Argument(
            help="a tune run directory, its study.db, sqlite:///FILE or "
                 "postgresql://USER:PASSWORD@HOST/DB (default: the newest runs/*/study.db)")]
        = None,
        port: Annotated[int, typer.Option(help="port to listen on (0: any free one)")] = 8080,
        host: Annotated[str, typer.Option(
            help="address to listen on; 0.0.0.0 shows the study to the whole network")]
        = "127.0.0.1",
    ) -> None:
        """Open a study in optuna-dashboard, live, until Ctrl-C (netrx's dashboard extra).

        History, importance, parallel coordinates, slices and the trials table in the
        browser, refreshed as trials finish; the address to open is printed."""
        from netrx.report.dashboard import require_dashboard, serve

        require_dashboard()

        def ready(url: str, opened) -> None:
            names = ", ".join(f"{name} ({n} trials)" for name, n in opened.studies) or "none yet"
            console.print(f"storage {opened.shown}; studies: {names}", highlight=False,
                          markup=False, soft_wrap=True)
            console.print(f"dashboard: {url}  (Ctrl-C stops it)", highlight=False,
                          markup=False, soft_wrap=True)

        serve(storage, host=host, port=port, ready=ready)
