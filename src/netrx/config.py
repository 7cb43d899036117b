"""The run configuration: pydantic models, one per section; unknown keys are rejected
with a "did you mean" suggestion. YAML is read with ``yaml.safe_load``.

Member-wise keys (``optimizer.lr``, ``optimizer.b1``/``b2``/``eps``, ``model.dropout``)
take one value or a list of one value per member.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from netrx.errors import ConfigError, did_you_mean

MemberValue = float | list[float]

#: short names accepted by ``--vary`` and their configuration paths
MEMBER_KEYS = {
    "lr": "optimizer.lr",
    "b1": "optimizer.b1",
    "b2": "optimizer.b2",
    "eps": "optimizer.eps",
    "dropout": "model.dropout",
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    dataset: str = "mnist1d"
    target: str | None = None
    task: Literal["classification", "regression"] | None = None
    impute: Literal["mean", "median", "most_frequent"] | None = None
    dev: float = Field(0.2, ge=0.0, lt=1.0)
    test: float = Field(0.2, ge=0.0, lt=1.0)


class ModelConfig(_Section):
    family: str = "mlp"
    hidden: list[int] = Field(default_factory=lambda: [100, 100])
    activation: str = "relu"
    init: str = "auto"
    dropout: MemberValue = 0.0
    batch_norm: bool = False
    channels: int | None = Field(None, ge=1)

    @field_validator("dropout")
    @classmethod
    def _rate(cls, v: MemberValue) -> MemberValue:
        for x in v if isinstance(v, list) else [v]:
            if not 0.0 <= x < 1.0:
                raise ValueError(f"dropout rate {x} must be in [0, 1) (it is 1 − keep_prob)")
        return v

    @field_validator("hidden")
    @classmethod
    def _widths(cls, v: list[int]) -> list[int]:
        if any(h < 1 for h in v):
            raise ValueError(f"hidden sizes must be ≥ 1, got {v}")
        return v


class OptimizerConfig(BaseModel):
    """``name`` plus the optimizer's own hyperparameters (checked against its signature)."""

    model_config = ConfigDict(extra="allow")
    name: str = "adam"
    lr: MemberValue = 1e-3

    def hyperparameters(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if k != "name" and v is not None}


class EarlyStoppingConfig(_Section):
    patience: int = Field(10, ge=0)
    min_delta: float = Field(0.0, ge=0.0)
    monitor: Literal["dev_error", "dev_loss"] = "dev_error"
    restore_best: bool = True


class TrainConfig(_Section):
    epochs: int = Field(20, ge=0)
    batch_size: int = Field(128, ge=1)
    loss: str = "auto"
    early_stopping: EarlyStoppingConfig | None = None


class RunConfig(_Section):
    name: str | None = None
    seed: int = 0
    device: str = "auto"
    members: int = Field(1, ge=1)
    out: str = "runs"
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    @model_validator(mode="after")
    def _member_lists(self) -> RunConfig:
        for path in MEMBER_KEYS.values():
            value = get_path(self, path)
            if isinstance(value, list) and len(value) != self.members:
                raise ValueError(f"{path} lists {len(value)} values for {self.members} members; "
                                 "give one value or one per member")
        return self


def get_path(cfg: BaseModel, path: str) -> Any:
    obj: Any = cfg
    for part in path.split("."):
        obj = getattr(obj, part, None)
    return obj


def _format_error(err: ValidationError, model: type[BaseModel]) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            section: Any = model
            for p in e["loc"][:-1]:
                field = section.model_fields.get(str(p)) if hasattr(section, "model_fields") \
                    else None
                section = _section_type(field) if field else None
            choices = list(section.model_fields) if section is not None else []
            key = str(e["loc"][-1])
            lines.append(f"unknown config key {loc!r}{did_you_mean(key, choices)}; "
                         f"valid keys here: {', '.join(choices)}")
        else:
            value = e.get("input")
            lines.append(f"{loc}: {e['msg']} (got {value!r})")
    return "; ".join(lines)


def _section_type(field: Any) -> type[BaseModel] | None:
    import typing

    ann = field.annotation
    for t in (ann, *typing.get_args(ann)):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    return None


def parse_config(data: dict[str, Any] | None) -> RunConfig:
    """Validate a nested dict into a :class:`RunConfig`, raising ConfigError with the fix."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping of sections, got {type(data).__name__}")
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_error(e, RunConfig)) from None


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from None
    return data or {}


def load_config(path: str | os.PathLike) -> RunConfig:
    """Read and validate a YAML config file."""
    return parse_config(load_yaml(path))


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``a.b.c`` in a nested dict, creating sections as needed."""
    parts = path.split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {path!r}: {p!r} is not a section")
    node[parts[-1]] = value


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overrides`` (dotted keys allowed) into a copy of ``base``."""
    import copy

    out = copy.deepcopy(base)
    for key, value in overrides.items():
        set_path(out, key, value)
    return out


def to_yaml(cfg: RunConfig) -> str:
    import yaml

    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
