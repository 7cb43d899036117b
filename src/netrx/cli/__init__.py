"""The command line: ``netrx`` (typer + rich). Terminal output lives here and nowhere below."""

from netrx.cli.app import app
from netrx.cli.entry import main

__all__ = ["app", "main"]
