"""Search-space distributions on the scales the notes prescribe.

- ``log_uniform(lo, hi)``: r ~ U[log10 lo, log10 hi], value = 10^r (for α:
  as much search between 1e-4 and 1e-3 as between 0.1 and 1).
- ``one_minus_log(lo, hi)``: for β near 1: r ~ U[log10(1 − hi), log10(1 − lo)],
  β = 1 − 10^r (β from 0.9 to 0.999 means 1 − β from 1e-1 to 1e-3).
- ``uniform(lo, hi)``, ``int(lo, hi)`` (``int(lo, hi, log)`` on a log scale),
  ``choice(a, b, ...)``.

Written as strings such as ``"lr=log_uniform(1e-4, 1e-1)"``.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from netrx.errors import ConfigError, unknown_choice


@dataclass(frozen=True)
class Distribution:
    kind: str
    args: tuple[Any, ...]

    def sample(self, rng: np.random.Generator, n: int) -> list[Any]:
        """``n`` independent draws."""
        k, a = self.kind, self.args
        if k == "log_uniform":
            return [float(v) for v in 10 ** rng.uniform(math.log10(a[0]), math.log10(a[1]), n)]
        if k == "one_minus_log":
            r = rng.uniform(math.log10(1 - a[1]), math.log10(1 - a[0]), n)
            return [float(v) for v in 1 - 10 ** r]
        if k == "uniform":
            return [float(v) for v in rng.uniform(a[0], a[1], n)]
        if k == "int":
            if len(a) > 2 and a[2]:
                vals = np.exp(rng.uniform(math.log(a[0]), math.log(a[1] + 1), n))
                return [int(min(a[1], math.floor(v))) for v in vals]
            return [int(v) for v in rng.integers(a[0], a[1] + 1, n)]
        if k == "choice":
            return [a[i] for i in rng.integers(0, len(a), n)]
        raise AssertionError(k)

    def __str__(self) -> str:
        return f"{self.kind}({', '.join(map(repr, self.args))})"


def _check(kind: str, args: tuple[Any, ...], text: str) -> None:
    if kind == "choice":
        if not args:
            raise ConfigError(f"{text}: choice() needs at least one option")
        return
    if len(args) < 2 or not all(isinstance(v, (int, float)) for v in args[:2]):
        raise ConfigError(f"{text}: {kind} needs two numbers, lo and hi")
    lo, hi = args[0], args[1]
    if lo >= hi:
        raise ConfigError(f"{text}: lo={lo} must be below hi={hi}")
    if kind == "log_uniform" and lo <= 0:
        raise ConfigError(f"{text}: a log scale needs lo > 0, got {lo}")
    if kind == "one_minus_log" and not (0 <= lo and hi < 1):
        raise ConfigError(f"{text}: one_minus_log needs 0 ≤ lo < hi < 1, got ({lo}, {hi})")
    if kind == "int":
        if not (float(lo).is_integer() and float(hi).is_integer()):
            raise ConfigError(f"{text}: int() needs integer bounds")
        if len(args) > 2 and args[2] and lo < 1:
            raise ConfigError(f"{text}: int(lo, hi, log) needs lo ≥ 1")


KINDS = ("log_uniform", "one_minus_log", "uniform", "int", "choice")
_CALL = re.compile(r"^\s*([a-z_]+)\s*\((.*)\)\s*$", re.S)


def parse_distribution(text: str) -> Distribution:
    """Parse ``log_uniform(1e-4, 1e-1)`` and friends."""
    m = _CALL.match(text)
    if not m:
        raise ConfigError(f"cannot read distribution {text!r}; write e.g. log_uniform(1e-4, 1e-1)")
    kind, body = m.group(1), m.group(2)
    if kind not in KINDS:
        raise unknown_choice("distribution", kind, KINDS)
    try:
        args = ast.literal_eval(f"({body},)") if body.strip() else ()
    except (ValueError, SyntaxError):
        raise ConfigError(f"cannot read the arguments of {text!r}") from None
    if kind == "int" and len(args) > 2:
        args = (args[0], args[1], args[2] in (True, "log"))
    _check(kind, tuple(args), text)
    return Distribution(kind, tuple(args))


def parse_assignment(text: str) -> tuple[str, Distribution]:
    """Parse ``"lr=log_uniform(1e-4, 1e-1)"`` into (key, distribution)."""
    if "=" not in text:
        raise ConfigError(f"--vary {text!r}: write KEY=DISTRIBUTION, "
                          "e.g. lr=log_uniform(1e-4,1e-1)")
    key, dist = text.split("=", 1)
    return key.strip(), parse_distribution(dist)
