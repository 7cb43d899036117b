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


class WriteError(NetrxError, OSError):
    """A file or directory cannot be written: no permission, a read-only file system or a
    full disk (the message says which, and what to do)."""


def clip(text: str, limit: int = 80) -> str:
    """``text`` cut to at most ``limit`` characters (``…`` marks a cut)."""
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def excerpt(value: object, limit: int = 60) -> str:
    """A short ``repr`` of ``value`` for a message: nested containers abbreviated (never
    expanded: an aliased YAML value may be huge), at most ``limit`` characters."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxtuple, r.maxdict, r.maxset = 2, 4, 4, 4, 4
    r.maxstring = r.maxother = r.maxlong = max(limit, 8)
    try:
        text = r.repr(value)
    except Exception:  # a repr that fails: name the type
        text = f"<{type(value).__name__}>"
    return clip(text, limit)


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
