"""A tune config: a run config plus a ``search`` section, validated with clear errors.

.. code-block:: yaml

    data: {dataset: mnist1d}
    model: {hidden: [100, 100]}
    train: {epochs: 27, batch_size: 128}
    search:
      space:
        optimizer.lr: log_uniform(1e-4, 1e-1)
        model.hidden: choice([64, 64], [128, 128], [256, 256])
        optimizer.b2: {distribution: "one_minus_log(0.9, 0.9999)",
                       when: {optimizer.name: adam}}
      strategy: tpe          # grid, random, sobol, tpe, coarse_to_fine
      trials: 200
      slots: 32              # population members trained at once
      pruner: asha           # none, median, asha, hyperband
      min_epochs: 1          # the first rung; rungs at min_epochs·η^i
      max_epochs: 27         # a trial that is never pruned trains this long

Every trial trains from the seed of the run config (``seed``), so the winner written to
``best.yaml`` trains to the same network with ``netrx train``.
"""

from __future__ import annotations

import copy
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from netrx.config import MEMBER_KEYS, RunConfig, load_yaml, parse_config, set_path
from netrx.errors import ConfigError, did_you_mean
from netrx.registry import OPTIMIZERS, PRUNERS, SAMPLERS
from netrx.tune.distributions import Distribution
from netrx.tune.space import Param, Space

METRICS = ("dev_error", "dev_loss")


class SearchConfig(BaseModel):
    """The ``search`` section of a tune config (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    space: dict[str, Any]
    strategy: str = "tpe"
    trials: int = Field(50, ge=1)
    slots: int = Field(16, ge=1)
    pruner: str = "asha"
    min_epochs: int = Field(1, ge=1)
    max_epochs: int | None = Field(None, ge=1)
    reduction_factor: int = Field(3, ge=2)
    metric: str = "dev_error"
    # coarse_to_fine: a coarse stage of coarse_fraction·trials, then a fine stage in the box
    # around the best q of the completed coarse trials (widened by margin of each range)
    q: float = Field(0.2, gt=0.0, le=1.0)
    coarse_fraction: float = Field(0.5, gt=0.0, lt=1.0)
    coarse_sampler: str = "random"
    margin: float = Field(0.1, ge=0.0)
    grid_points: int = Field(3, ge=2)  # per numeric key, for strategy grid
    startup_trials: int = Field(10, ge=0)  # TPE: random trials before the model
    seed: int | None = None  # sampler seed (default: the run's seed)
    budget: float | str | None = None  # wall clock: 300, "300s", "5m", "1h"
    study: str | None = None
    storage: str | None = None
    heartbeat: float = Field(10.0, gt=0.0)  # seconds between a worker's heartbeats
    grace: float = Field(60.0, gt=0.0)  # a RUNNING trial whose worker is silent this long
    retries: int = Field(1, ge=0)  # is marked FAIL and re-enqueued (this many times at most)

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, v: str) -> str:
        return SAMPLERS.check(v)

    @field_validator("pruner")
    @classmethod
    def _pruner(cls, v: str) -> str:
        return PRUNERS.check(v)

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        return _choice("metric", v, METRICS)

    @field_validator("coarse_sampler")
    @classmethod
    def _coarse(cls, v: str) -> str:
        return _choice("coarse_sampler", v, ("random", "sobol"))

    @field_validator("budget")
    @classmethod
    def _budget(cls, v: float | str | None) -> float | str | None:
        if v is not None:
            parse_budget(v)
        return v


def _choice(what: str, v: str, choices: tuple[str, ...]) -> str:
    if v not in choices:
        raise ValueError(f"unknown {what} {v!r}{did_you_mean(v, choices)}; "
                         f"choose one of: {', '.join(choices)}")
    return v


_DURATION = re.compile(r"(\d+(?:\.\d*)?)\s*([smh]?)")


def parse_budget(value: float | str | None) -> float | None:
    """Seconds from ``300``, ``"300s"``, ``"5m"``, ``"1h30m"``; None for no budget."""
    from netrx.train.deadline import parse_duration

    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"budget {value!r} must be a positive duration")
    return parse_duration(value)


@dataclass
class TuneConfig:
    """A validated tune config: the base run, the search section and its space."""

    run: RunConfig
    search: SearchConfig
    space: Space
    raw: dict[str, Any]  # the run config as given (without ``search``), for best.yaml

    @property
    def max_epochs(self) -> int:
        return int(self.search.max_epochs or self.run.train.epochs)

    @property
    def budget_seconds(self) -> float | None:
        return parse_budget(self.search.budget)

    def member_wise(self, key: str) -> bool:
        """Whether ``key`` may differ between the members of one population (a [K] tensor)
        rather than split the trials into groups (architecture, batch size, optimizer...)."""
        return key in MEMBER_KEYS.values() and self.space.params[key].dist.numeric

    def trial_config(self, values: dict[str, Any], *, members: int = 1) -> dict[str, Any]:
        """The run config (as a dict) of one trial's values."""
        data = copy.deepcopy(self.raw)
        for key, value in values.items():
            set_path(data, key, copy.deepcopy(value))
        name = values.get("optimizer.name")
        if name is not None and name != self.raw.get("optimizer", {}).get("name"):
            _drop_foreign_hyperparameters(data, str(name), set(values))
        data["members"] = members
        data.setdefault("train", {})["epochs"] = self.max_epochs
        return data


def _drop_foreign_hyperparameters(data: dict[str, Any], name: str, searched: set[str]) -> None:
    """A trial that switches the optimizer (``optimizer.name ~ choice(adamw, adam)``)
    leaves out the base config's hyperparameters the new one does not take (AdamW's
    ``weight_decay`` for Adam); searched keys stay, so a real mismatch still fails."""
    from netrx.registry import OPTIMIZERS

    optimizer = data.get("optimizer") or {}
    for key in list(optimizer):
        if key in ("name", "lr", "schedule") or f"optimizer.{key}" in searched:
            continue
        if name in OPTIMIZERS and not OPTIMIZERS.accepts(name, key):
            del optimizer[key]


def load_tune_config(source: str | os.PathLike | dict[str, Any],
                     overrides: dict[str, Any] | None = None) -> TuneConfig:
    """Read a tune config (YAML path or dict), apply ``search`` overrides (e.g. from CLI
    flags) and validate everything, including every searched key against the run config."""
    data = load_yaml(source) if isinstance(source, (str, os.PathLike, Path)) \
        else copy.deepcopy(source)
    if not isinstance(data, dict):
        raise ConfigError("a tune config must be a mapping: the run config plus a `search` "
                          "section")
    search_data = data.pop("search", None)
    if search_data is None:
        raise ConfigError("the config has no `search` section; add one with at least "
                          "`space: {optimizer.lr: \"log_uniform(1e-4, 1e-1)\"}`")
    if not isinstance(search_data, dict):
        raise ConfigError("`search` must be a mapping (space, strategy, trials, ...)")
    search_data = {**search_data, **{k: v for k, v in (overrides or {}).items()
                                     if v is not None}}
    try:
        search = SearchConfig.model_validate(search_data)
    except ValidationError as e:
        raise ConfigError(_search_error(e)) from None
    run = parse_config(data)
    _check_run(run, data)
    space = Space.from_mapping(search.space)
    cfg = TuneConfig(run, search, space, data)
    check_space(cfg)
    if search.grace <= search.heartbeat:
        raise ConfigError(f"search.grace={search.grace} must exceed search.heartbeat="
                          f"{search.heartbeat} (a worker is declared lost after `grace` "
                          "seconds without a heartbeat)")
    if search.min_epochs > cfg.max_epochs:
        raise ConfigError(f"search.min_epochs={search.min_epochs} exceeds max_epochs="
                          f"{cfg.max_epochs}; lower it or raise search.max_epochs")
    return cfg


def _search_error(e: ValidationError) -> str:
    lines = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            key = str(err["loc"][-1])
            lines.append(f"unknown key search.{loc}{did_you_mean(key, SearchConfig.model_fields)}"
                         f"; valid keys: {', '.join(SearchConfig.model_fields)}")
        elif err["type"] == "missing":
            lines.append(f"search.{loc} is missing")
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"search.{loc}: {msg} (got {err.get('input')!r})")
    return "; ".join(lines)


def _check_run(run: RunConfig, data: dict[str, Any]) -> None:
    if run.train.early_stopping is not None:
        raise ConfigError("train.early_stopping is not used by netrx tune (the pruner stops "
                          "poor trials early); remove it from the tune config")
    if getattr(run.train, "reduce_lr_on_plateau", None) is not None:
        raise ConfigError("train.reduce_lr_on_plateau is not supported by netrx tune yet; "
                          "remove it, or search a schedule (optimizer.schedule)")
    transfer = getattr(run, "transfer", None)
    if transfer is not None and getattr(transfer, "init_from", None) is not None:
        raise ConfigError("transfer.init_from is not supported by netrx tune yet; tune the "
                          "architecture from scratch or fine-tune with netrx train --vary")
    for path in MEMBER_KEYS.values():
        node: Any = data
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, list):
            raise ConfigError(f"{path} lists one value per member; in a tune config give "
                              "one value, or search it in search.space")


def _section_fields(model: Any) -> dict[str, Any] | None:
    return getattr(model, "model_fields", None)


def _check_path(key: str, run: RunConfig, optimizer_names: set[str]) -> None:
    """Raise ConfigError unless ``key`` names a key of the run config."""
    parts = key.split(".")
    node: Any = type(run)
    for i, part in enumerate(parts):
        fields = _section_fields(node)
        where = ".".join(parts[:i]) or "the config"
        if fields is None:
            return  # inside a free-form mapping (e.g. optimizer.schedule): checked by value
        if part not in fields:
            if where == "optimizer":
                _check_optimizer_key(part, key, optimizer_names)
                return
            raise ConfigError(f"search.space: unknown config key {key!r}"
                              f"{did_you_mean(part, fields)}; valid keys in {where}: "
                              f"{', '.join(fields)}")
        annotation = fields[part].annotation
        node = _model_of(annotation)
        if node is None and i < len(parts) - 1:
            inner = str(annotation)
            if "dict" in inner or "Any" in inner:
                return
            raise ConfigError(f"search.space: {'.'.join(parts[:i + 1])!r} is a value, not a "
                              f"section; {key!r} does not exist")


def _model_of(annotation: Any) -> Any:
    import typing

    for t in (annotation, *typing.get_args(annotation)):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    return None


def _check_optimizer_key(part: str, key: str, names: set[str]) -> None:
    from netrx.optim.aliases import CLIP_KEYS

    accepted: set[str] = set(CLIP_KEYS)
    for name in names:
        if name in OPTIMIZERS:
            accepted |= set(OPTIMIZERS.options(name))
    if part not in accepted:
        raise ConfigError(f"search.space: optimizer {'/'.join(sorted(names))} has no "
                          f"hyperparameter {part!r} ({key}){did_you_mean(part, accepted)}; "
                          f"it takes: {', '.join(sorted(accepted))}")


def _representatives(d: Distribution) -> list[Any]:
    """Values that every draw lies between: a choice's options; a range's ends (the upper
    end nudged inside, as draws never reach it) and its middle on the search scale."""
    if d.kind == "choice":
        return list(d.args)
    lo, hi = d.bounds()
    if d.kind == "int":
        return sorted({int(lo), int(hi), int(round(d.from_scale((d.to_scale(lo)
                                                                  + d.to_scale(hi)) / 2)))})
    mid = d.from_scale((d.to_scale(lo) + d.to_scale(hi)) / 2)
    return [lo, mid, math.nextafter(hi, lo)]


def _condition_values(p: Param, cfg: TuneConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, allowed in p.when.items():
        out[k] = allowed[0]
        q = cfg.space.params.get(k)
        if q is not None:
            out.update(_condition_values(q, cfg))
    return out


def check_space(cfg: TuneConfig) -> None:
    """Every key exists in the run config, every condition names a key, and every
    representative value of every key makes a valid run config and optimizer."""
    from netrx.optim.aliases import build_optimizer

    opt = cfg.space.params.get("optimizer.name")
    names = {str(v) for v in opt.dist.args} if opt is not None and opt.dist.kind == "choice" \
        else {cfg.run.optimizer.name}
    if "lbfgs" in names:
        raise ConfigError("netrx tune trains with mini-batch optimizers; lbfgs (full batch) "
                          "cannot be searched")
    for p in cfg.space:
        _check_path(p.key, cfg.run, names)
        for dep, allowed in p.when.items():
            if dep not in cfg.space.params:
                _check_path(dep, cfg.run, names)
            dep_param = cfg.space.params.get(dep)
            if dep_param is not None and dep_param.dist.kind == "choice":
                options = {repr(v) for v in dep_param.dist.args}
                missing = [v for v in allowed if repr(v) not in options]
                if missing:
                    raise ConfigError(f"search.space.{p.key}.when: {dep} is never "
                                      f"{missing[0]!r}; its options are "
                                      f"{', '.join(map(repr, dep_param.dist.args))}")
        fixed = {k: v for k, v in p.when.items() if k not in cfg.space.params}
        if fixed:
            from netrx.config import get_path

            base = {k: get_path(cfg.run, k) for k in fixed}
            if not p.active(base):
                raise ConfigError(f"search.space.{p.key}.when never holds: the run config has "
                                  + ", ".join(f"{k} = {v!r}" for k, v in base.items()))
        parts = p.key.split(".")
        if opt is not None and len(parts) == 2 and parts[0] == "optimizer" \
                and parts[1] not in ("name", "lr", "schedule"):
            allowed_names = p.when.get("optimizer.name", tuple(names))
            for name in map(str, allowed_names):  # each optimizer the key meets must take it
                try:
                    _check_optimizer_key(parts[1], p.key, {name})
                except ConfigError as e:
                    raise ConfigError(f"{e}. Make the key conditional: {{distribution: ..., "
                                      "when: {optimizer.name: [OPTIMIZERS THAT TAKE IT]}}") \
                        from None
    for p in cfg.space:
        for value in _representatives(p.dist):
            values = {**_condition_values(p, cfg), p.key: value}
            values = {k: v for k, v in values.items() if k in cfg.space.params or k == p.key}
            try:
                run = parse_config(cfg.trial_config(values))
                if run.optimizer.name != "lbfgs":
                    build_optimizer(run.optimizer.name, **run.optimizer.hyperparameters())
            except ConfigError as e:
                shown = f"{value:.6g}" if isinstance(value, float) else repr(value)
                raise ConfigError(f"search.space.{p.key} = {shown} makes an invalid run "
                                  f"config: {e}") from None

