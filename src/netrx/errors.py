"""Every mistake a user can make raises a :class:`NetrxError` subclass.

The message names the bad value and the fix; the CLI prints it without a
traceback and exits with status 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class NetrxError(Exception):
    """Base class of every error netrx raises for bad input."""


class ConfigError(NetrxError, ValueError):
    """A configuration value is unknown, out of range or inconsistent."""


class DataError(NetrxError, ValueError):
    """The data cannot be used as given (missing values, bad shapes, ...)."""


class DivergedError(NetrxError, RuntimeError):
    """Every member of a population diverged (loss became NaN or inf)."""


class RunDirError(NetrxError, OSError):
    """A run directory is missing, incomplete or of an unknown layout."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_choice(kind: str, value: str, choices: Iterable[str]) -> ConfigError:
    """A :class:`ConfigError` for a name that is not among ``choices``."""
    choices = sorted(choices)
    return ConfigError(
        f"unknown {kind} {value!r}{did_you_mean(value, choices)}; "
        f"choose one of: {', '.join(choices)}"
    )
