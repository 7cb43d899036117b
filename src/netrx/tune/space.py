"""A whole search space: the searched config keys (:class:`Param`, possibly conditional
on other keys' values) in an order where a key follows the keys its condition names
(:class:`Space`), drawn define-by-run from an Optuna trial. The distributions of single
keys are in :mod:`netrx.tune.distributions`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netrx.errors import ConfigError, did_you_mean
from netrx.tune.distributions import Distribution, parse_distribution

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class Param:
    """A searched config key: its distribution and, for a conditional key, ``when``:
    {other key: allowed values} (every listed key must hold one of its values)."""

    key: str
    dist: Distribution
    when: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The Optuna parameter name."""
        return self.dist.internal_name(self.key)

    def active(self, values: Mapping[str, Any]) -> bool:
        """Whether the condition holds for the values chosen so far."""
        return all(_canon(values.get(k)) in {_canon(v) for v in allowed}
                   for k, allowed in self.when.items())


def _canon(v: Any) -> str:
    return json.dumps(v, sort_keys=True)


def _parse_param(key: str, spec: Any) -> Param:
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(f"search.space: keys must be config paths such as optimizer.lr, "
                          f"got {key!r}")
    if isinstance(spec, (str, Distribution)):
        return Param(key, _parse_for(key, spec))
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"distribution", "when"}
        if unknown or "distribution" not in spec:
            bad = sorted(unknown)[0] if unknown else "distribution"
            what = f"unknown entry {bad!r}{did_you_mean(bad, ['distribution', 'when'])}" \
                if unknown else "distribution is missing"
            raise ConfigError(f"search.space.{key}: a conditional key is "
                              "{distribution: ..., when: {KEY: VALUE or [VALUES]}}; " + what)
        when = spec.get("when") or {}
        if not isinstance(when, Mapping) or not when:
            raise ConfigError(f"search.space.{key}.when must map config keys to a value or a "
                              "list of values, e.g. {optimizer.name: adam}")
        cond = {str(k): tuple(v) if isinstance(v, (list, tuple)) else (v,)
                for k, v in when.items()}
        return Param(key, _parse_for(key, spec["distribution"]), cond)
    raise ConfigError(f"search.space.{key}: give a distribution such as "
                      f"\"log_uniform(1e-4, 1e-1)\", got {spec!r}")


def _parse_for(key: str, spec: Any) -> Distribution:
    try:
        return parse_distribution(spec)
    except ConfigError as e:
        raise ConfigError(f"search.space.{key}: {e}") from None


class Space:
    """An ordered set of :class:`Param` (a key comes after the keys its condition names).

    Build it from a mapping ``{key: "distribution" | {distribution, when}}``;
    :meth:`suggest` draws one configuration from an Optuna trial (define-by-run, so a
    conditional key exists only in the trials where its condition holds).
    """

    def __init__(self, params: Sequence[Param]) -> None:
        by_key = {p.key: p for p in params}
        if len(by_key) != len(params):
            raise ConfigError("search.space lists a key twice")
        if not params:
            raise ConfigError("search.space is empty; give at least one key to search, e.g. "
                              "optimizer.lr: log_uniform(1e-4, 1e-1)")
        self.params: dict[str, Param] = {}
        visiting: set[str] = set()

        def visit(p: Param) -> None:
            if p.key in self.params:
                return
            if p.key in visiting:
                raise ConfigError(f"search.space: the conditions of {p.key!r} form a cycle")
            visiting.add(p.key)
            for dep in p.when:
                if dep == p.key:
                    raise ConfigError(f"search.space.{p.key}: a key cannot depend on itself")
                if dep in by_key:
                    visit(by_key[dep])
            self.params[p.key] = p

        for p in params:
            visit(p)
        names = [p.name for p in self.params.values()]
        if len(set(names)) != len(names):
            raise ConfigError("search.space: two keys map to the same parameter name")
        self.by_name = {p.name: p for p in self.params.values()}

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> Space:
        if not isinstance(mapping, Mapping):
            raise ConfigError(f"search.space must map config keys to distributions, got "
                              f"{type(mapping).__name__}")
        return cls([_parse_param(k, v) for k, v in mapping.items()])

    def __iter__(self):
        return iter(self.params.values())

    def __len__(self) -> int:
        return len(self.params)

    def __repr__(self) -> str:
        return "Space(" + ", ".join(f"{p.key}={p.dist}" for p in self) + ")"

    def to_mapping(self) -> dict[str, Any]:
        """The YAML form (round-trips through :meth:`from_mapping`)."""
        out: dict[str, Any] = {}
        for p in self:
            if p.when:
                out[p.key] = {"distribution": str(p.dist),
                              "when": {k: list(v) if len(v) > 1 else v[0]
                                       for k, v in p.when.items()}}
            else:
                out[p.key] = str(p.dist)
        return out

    def suggest(self, trial: optuna.trial.Trial, fixed: Mapping[str, Any]) -> dict[str, Any]:
        """One configuration {key: value} from ``trial``; ``fixed`` gives the value of a
        condition key that is not searched (the base config's)."""
        values: dict[str, Any] = {}
        for p in self:
            if not p.active({**fixed, **values}):
                continue
            d, name = p.dist, p.name
            if d.kind in ("log_uniform", "one_minus_log", "uniform"):
                od = d.to_optuna()
                stored = trial.suggest_float(name, od.low, od.high, log=od.log)
            elif d.kind == "int":
                stored = trial.suggest_int(name, int(d.args[0]), int(d.args[1]), log=d.log)
            else:
                stored = trial.suggest_categorical(name, d.to_optuna().choices)
            values[p.key] = d.decode(stored)
        return values

    def decode(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """{key: value} from the Optuna parameters of a trial."""
        out = {}
        for name, stored in params.items():
            p = self.by_name.get(name)
            if p is None:
                raise ConfigError(f"the study has a parameter {name!r} that this search space "
                                  "does not; use the space the study was created with")
            out[p.key] = p.dist.decode(stored)
        return out

    def encode(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna parameters from {key: value} (for ``study.enqueue_trial``)."""
        return {self.params[k].name: self.params[k].dist.encode(v) for k, v in values.items()}

    def grid(self, points: int) -> dict[str, list[Any]]:
        """Optuna's grid: every choice, ``points`` values per numeric key on its scale."""
        return {p.name: [p.dist.encode(v) for v in p.dist.grid(points)] for p in self}

    def with_dists(self, dists: Mapping[str, Distribution]) -> Space:
        """The same space with some keys' distributions replaced."""
        return Space([Param(p.key, dists.get(p.key, p.dist), p.when) for p in self])
