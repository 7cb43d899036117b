"""The console script ``netrx`` (and ``python -m netrx.cli``): the typer app run so that
every usage error, typer's own included, is one line ``error: …`` with exit status 2."""

from __future__ import annotations

import typer

from netrx.cli.app import app, console, err_console


def _usage_errors() -> tuple[type, type]:
    """click's usage errors (typer ≥ 0.2x vendors click as ``typer._click``)."""
    try:
        from typer._click import exceptions
    except ImportError:  # older typer: click itself
        from click import exceptions  # type: ignore[no-redef]
    return getattr(exceptions, "NoArgsIsHelpError", ()), exceptions.UsageError


def _suggestion(message: str) -> str:
    """`` (did you mean 'adam'?)`` for a choice typed wrong (click lists the choices)."""
    import re

    from netrx.errors import did_you_mean

    found = re.search(r"'([^']*)' is not one of (.+?)\.?$", message)
    if not found:
        return ""
    choices = re.findall(r"'([^']*)'", found.group(2))
    return did_you_mean(found.group(1), choices)


def main(argv: list[str] | None = None) -> int:
    """The console script: every usage error, typer's own included, is one line
    ``error: …`` on stderr with exit status 2, like netrx's own errors."""
    from rich.markup import escape

    no_args, usage = _usage_errors()
    try:
        result = app(args=argv, standalone_mode=False)
    except no_args as e:  # bare `netrx`: the help, as typer shows it
        console.print(e.ctx.get_help(), highlight=False)
        return 2
    except usage as e:
        hint = f" (see: {e.ctx.command_path} --help)" if e.ctx is not None else ""
        message = e.format_message()
        err_console.print(f"[bold red]error:[/] {escape(message)}{_suggestion(message)}{hint}",
                          highlight=False, soft_wrap=True)
        return 2
    except typer.Abort:
        err_console.print("interrupted")
        return 130
    except typer.Exit as e:
        return e.exit_code
    return result if isinstance(result, int) else 0

