"""Search-space distributions on the scales the notes prescribe.

- ``log_uniform(lo, hi)``: r ~ U[log10 lo, log10 hi], value = 10^r (for α: as much
  search between 1e-4 and 1e-3 as between 0.1 and 1; a uniform draw on [1e-4, 1] would
  spend 90% of the trials between 0.1 and 1).
- ``one_minus_log(lo, hi)``: for β near 1: r ~ U[log10(1 − hi), log10(1 − lo)],
  β = 1 − 10^r (β from 0.9 to 0.999 means 1 − β from 1e-1 to 1e-3, r ∈ [−3, −1]).
- ``uniform(lo, hi)``, ``int(lo, hi)`` (``int(lo, hi, log)`` on a log scale),
  ``choice(a, b, ...)`` (any YAML values: numbers, words, lists such as ``[64, 64]``).

Written as strings such as ``"lr=log_uniform(1e-4, 1e-1)"`` (``netrx train --vary``) or
as the values of a tune config's ``search.space`` mapping, where a key may also be
conditional: ``{distribution: "one_minus_log(0.9, 0.9999)", when: {optimizer.name:
adam}}`` is searched only in trials whose optimizer is Adam.

Each distribution maps to an Optuna distribution on its own scale (:meth:`Distribution.
to_optuna`): log_uniform → ``FloatDistribution(log=True)``; one_minus_log → a uniform
``FloatDistribution`` over r, stored under the name ``log10(1-KEY)`` so that the dashboard
and the importance analysis see the scale the search happens on.
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from netrx.errors import ConfigError
from netrx.registry import DISTRIBUTIONS

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class Distribution:
    """One key's distribution: ``kind`` (a name of :data:`~netrx.registry.DISTRIBUTIONS`,
    which gives the scale each kind is searched on) and its arguments."""

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
            if self.log:
                vals = np.exp(rng.uniform(math.log(a[0]), math.log(a[1] + 1), n))
                return [int(min(a[1], math.floor(v))) for v in vals]
            return [int(v) for v in rng.integers(a[0], a[1] + 1, n)]
        if k == "choice":
            return [a[i] for i in rng.integers(0, len(a), n)]
        raise AssertionError(k)

    def __str__(self) -> str:
        if self.kind == "int" and self.log:
            return f"int({self.args[0]!r}, {self.args[1]!r}, log)"
        return f"{self.kind}({', '.join(map(repr, self.args))})"

    # -- scales ----------------------------------------------------------------------
    @property
    def log(self) -> bool:
        """Whether an ``int`` distribution is searched on a log scale."""
        return self.kind == "int" and len(self.args) > 2 and bool(self.args[2])

    @property
    def scale(self) -> str:
        """``log``, ``one_minus_log``, ``linear`` or ``categorical``."""
        return "log" if self.log else DISTRIBUTIONS.get(self.kind)

    @property
    def numeric(self) -> bool:
        """Whether every value is a number (not a bool, word or list)."""
        if self.kind != "choice":
            return True
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.args)

    def to_scale(self, value: float) -> float:
        """The coordinate the search is uniform in: log10 v (log), log10(1 − v)
        (one_minus_log) or v (linear)."""
        if self.scale == "log":
            return math.log10(value)
        if self.scale == "one_minus_log":
            return math.log10(1.0 - value)
        return float(value)

    def from_scale(self, r: float) -> float:
        """Inverse of :meth:`to_scale` (β = 1 − 10^r for one_minus_log)."""
        if self.scale == "log":
            return 10.0 ** r
        if self.scale == "one_minus_log":
            return 1.0 - 10.0 ** r
        return float(r)

    def bounds(self) -> tuple[float, float]:
        """(lo, hi) of a numeric range distribution."""
        return float(self.args[0]), float(self.args[1])

    def narrowed(self, lo: float, hi: float) -> Distribution:
        """The same kind over [lo, hi] (values, not scale coordinates), clipped to the
        current range."""
        a, b = self.bounds()
        lo, hi = max(a, lo), min(b, hi)
        if self.kind == "int":
            lo, hi = math.floor(lo), math.ceil(hi)
            if lo >= hi:
                hi = min(int(b), lo + 1)
                lo = hi - 1
            return Distribution("int", (int(lo), int(hi), *self.args[2:]))
        if not lo < hi:
            raise ConfigError(f"cannot narrow {self} to an empty box [{lo}, {hi}]")
        return Distribution(self.kind, (lo, hi))

    def grid(self, points: int) -> list[Any]:
        """``points`` values evenly spaced on the distribution's scale (ends included);
        every option of a choice."""
        if self.kind == "choice":
            return list(self.args)
        lo, hi = self.bounds()
        rs = np.linspace(self.to_scale(lo), self.to_scale(hi), int(points))
        values = [min(hi, max(lo, self.from_scale(float(r)))) for r in rs]
        if self.kind == "int":
            return sorted({int(round(v)) for v in values})
        return values

    # -- Optuna ----------------------------------------------------------------------
    def internal_name(self, key: str) -> str:
        """The Optuna parameter name: the key itself, or ``log10(1-KEY)`` for β's."""
        return f"log10(1-{key})" if self.kind == "one_minus_log" else key

    def to_optuna(self) -> optuna.distributions.BaseDistribution:
        """The Optuna distribution, on this distribution's scale."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.kind == "log_uniform":
            return FloatDistribution(*self.bounds(), log=True)
        if self.kind == "one_minus_log":
            lo, hi = self.bounds()
            return FloatDistribution(math.log10(1 - hi), math.log10(1 - lo))
        if self.kind == "uniform":
            return FloatDistribution(*self.bounds())
        if self.kind == "int":
            return IntDistribution(int(self.args[0]), int(self.args[1]), log=self.log)
        return CategoricalDistribution([_encode_choice(v) for v in self.args])

    def encode(self, value: Any) -> Any:
        """A value as Optuna stores it (r for one_minus_log, JSON text for list choices)."""
        if self.kind == "one_minus_log":
            lo, hi = self.bounds()
            return min(math.log10(1 - lo), max(math.log10(1 - hi), math.log10(1 - value)))
        if self.kind == "choice":
            return _encode_choice(value)
        return value

    def decode(self, stored: Any) -> Any:
        """Inverse of :meth:`encode`: β = 1 − 10^r, lists from their JSON text."""
        if self.kind == "one_minus_log":
            lo, hi = self.bounds()
            return min(hi, max(lo, 1.0 - 10.0 ** float(stored)))
        if self.kind == "choice":
            for v in self.args:
                if _encode_choice(v) == stored:
                    return v
            raise ConfigError(f"{stored!r} is not an option of {self}")
        if self.kind == "int":
            return int(stored)
        return float(stored)


def _encode_choice(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value)


def _check(kind: str, args: tuple[Any, ...], text: str) -> None:
    if kind == "choice":
        if not args:
            raise ConfigError(f"{text}: choice() needs at least one option")
        encoded = [_encode_choice(v) for v in args]
        if len(set(map(repr, encoded))) != len(encoded):
            raise ConfigError(f"{text}: choice() lists an option twice")
        return
    if len(args) < 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                for v in args[:2]):
        raise ConfigError(f"{text}: {kind} needs two numbers, lo and hi")
    if len(args) > (3 if kind == "int" else 2):
        raise ConfigError(f"{text}: {kind} takes lo and hi"
                          + (" (and log)" if kind == "int" else "") + f", got {len(args)} values")
    lo, hi = args[0], args[1]
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConfigError(f"{text}: the bounds must be finite numbers")
    if lo >= hi:
        raise ConfigError(f"{text}: lo={lo} must be below hi={hi}")
    if kind == "log_uniform" and lo <= 0:
        raise ConfigError(f"{text}: a log scale needs lo > 0, got {lo} "
                          "(the log of a non-positive number is undefined)")
    if kind == "one_minus_log" and not (0 <= lo and hi < 1):
        raise ConfigError(f"{text}: one_minus_log needs 0 ≤ lo < hi < 1, got ({lo}, {hi}) "
                          "(it searches log10(1 − β))")
    if kind == "int":
        if not (float(lo).is_integer() and float(hi).is_integer()):
            raise ConfigError(f"{text}: int() needs integer bounds")
        if len(args) > 2 and args[2] and lo < 1:
            raise ConfigError(f"{text}: int(lo, hi, log) needs lo ≥ 1 (log of {lo})")


_CALL = re.compile(r"^\s*([a-z_]+)\s*\((.*)\)\s*$", re.S)
_WORDS = {"True": True, "False": False, "None": None, "true": True, "false": False,
          "null": None}


class _BareWords(ast.NodeTransformer):
    """``choice(adam, sgd)``: bare words are strings (True/False/None stay constants)."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        value = _WORDS.get(node.id, node.id)
        return ast.copy_location(ast.Constant(value), node)


def _literal(body: str) -> tuple[Any, ...]:
    tree = ast.parse(f"({body},)", mode="eval")
    return tuple(ast.literal_eval(_BareWords().visit(tree)))


def parse_distribution(text: str) -> Distribution:
    """Parse ``log_uniform(1e-4, 1e-1)`` and friends."""
    if isinstance(text, Distribution):
        return text
    if not isinstance(text, str):
        raise ConfigError(f"cannot read distribution {text!r}; write e.g. "
                          "log_uniform(1e-4, 1e-1)")
    m = _CALL.match(text)
    if not m:
        raise ConfigError(f"cannot read distribution {text!r}; write e.g. log_uniform(1e-4, 1e-1)")
    kind, body = m.group(1), m.group(2)
    DISTRIBUTIONS.check(kind)
    try:
        args = _literal(body) if body.strip() else ()
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
