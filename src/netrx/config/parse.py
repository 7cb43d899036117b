"""Reading a run config: a nested dict or a YAML file (``yaml.safe_load``) validated into
a :class:`~netrx.config.schema.RunConfig`, with one error formatter: every problem on one
line, an unknown key with a "did you mean" and the valid keys of its section."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from netrx.config.schema import RunConfig
from netrx.errors import ConfigError, did_you_mean


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


def to_yaml(cfg: RunConfig) -> str:
    import yaml

    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
