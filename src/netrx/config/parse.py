"""Reading a run config: a nested dict or a YAML file validated into a
:class:`~netrx.config.schema.RunConfig`, with one error formatter: every problem on one
line, an unknown key with a "did you mean" and the valid keys of its section.

A YAML file is read with limits: at most :data:`MAX_CONFIG_BYTES` of UTF-8 text, parsed by
:class:`LimitedLoader` (``yaml.SafeLoader``: no Python tags) which refuses a document
nested deeper than :data:`MAX_DEPTH` or holding more than :data:`MAX_NODES` values once its
aliases are expanded (a "billion laughs" never reaches memory). Error messages quote at
most a short excerpt of a value (:func:`netrx.errors.excerpt`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from netrx.config.schema import RunConfig
from netrx.errors import ConfigError, clip, did_you_mean, excerpt
from netrx.files import check_name

#: a config file larger than this is refused before it is parsed (configs are ~1 KB)
MAX_CONFIG_BYTES = 1 << 20
#: values in a YAML document with every alias expanded (a config has a few hundred)
MAX_NODES = 100_000
#: nesting of a YAML document, aliases expanded (a config nests 3 or 4 levels)
MAX_DEPTH = 50
#: problems listed in one error message
MAX_PROBLEMS = 5
#: the sections of a run config that must be mappings
SECTIONS = ("data", "model", "optimizer", "train", "regularization", "augment", "transfer")


def _format_error(err: ValidationError, model: type[BaseModel]) -> str:
    lines: list[str] = []
    unknown: dict[tuple, list[str]] = {}  # section path -> unknown keys there
    for e in err.errors():
        loc = ".".join(clip(str(p), 40) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            unknown.setdefault(tuple(e["loc"][:-1]), []).append(loc)
        else:
            value = e.get("input")
            msg = e["msg"]
            if isinstance(value, list | dict | str) and len(str(value)) > 60:
                msg = msg.replace(str(value), excerpt(value))  # a validator's "got [...]"
            lines.append(f"{loc}: {clip(msg, 600)} (got {excerpt(value)})")
    for where, keys in unknown.items():
        section: Any = model
        for p in where:
            field = section.model_fields.get(str(p)) if hasattr(section, "model_fields") \
                else None
            section = _section_type(field) if field else None
        choices = list(section.model_fields) if section is not None else []
        if len(keys) == 1:
            last = keys[0].rsplit(".", 1)[-1]
            lines.insert(0, f"unknown config key {keys[0]!r}{did_you_mean(last, choices)}; "
                            f"valid keys here: {', '.join(choices)}")
        else:
            more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
            shown = ", ".join(repr(k) for k in keys[:3])
            lines.insert(0, f"unknown config keys {shown}{more}; valid keys here: "
                            f"{', '.join(choices)}")
    more = len(lines) - MAX_PROBLEMS
    return "; ".join(lines[:MAX_PROBLEMS]) + (f"; … and {more} more problems" if more > 0
                                              else "")


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
        cfg = RunConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_error(e, RunConfig)) from None
    if cfg.name is not None:
        check_name(cfg.name)
    if not 0 <= cfg.seed < 2**63 - cfg.members:
        raise ConfigError(f"seed {excerpt(cfg.seed)} must be a whole number ≥ 0 (member k "
                          "starts from seed + k), e.g. --seed 0")
    return cfg


def _limited_loader() -> type:
    """:class:`yaml.SafeLoader` that refuses documents nested deeper than MAX_DEPTH or with
    more than MAX_NODES values once aliases are expanded (checked on the composed node
    graph, before any Python object is built)."""
    import yaml
    from yaml.nodes import MappingNode, SequenceNode

    class LimitedLoader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            self.depth += 1
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ConfigError(f"nested deeper than {MAX_DEPTH} levels at line "
                                  f"{mark.line + 1}; a config nests a few levels")
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def compose_document(self) -> Any:
            node = super().compose_document()
            _check_expanded(node)
            return node

    def children(node: Any) -> list[Any]:
        if isinstance(node, SequenceNode):
            return list(node.value)
        if isinstance(node, MappingNode):
            return [n for pair in node.value for n in pair]
        return []

    def _check_expanded(root: Any) -> None:
        """Size and depth of the document with every alias expanded: one pass over the
        node graph (an alias is the node it names, so shared nodes are counted once per
        use without being expanded); a recursive alias is refused."""
        size: dict[int, int] = {}
        depth: dict[int, int] = {}
        on_path: set[int] = set()
        stack: list[tuple[Any, bool]] = [(root, False)]
        while stack:
            node, done = stack.pop()
            key = id(node)
            if done:
                kids = children(node)
                size[key] = 1 + sum(size[id(c)] for c in kids)
                depth[key] = 1 + max((depth[id(c)] for c in kids), default=0)
                on_path.discard(key)
                if size[key] > MAX_NODES:
                    raise ConfigError(f"more than {MAX_NODES:,} values once its aliases "
                                      f"(*name) are expanded (line {node.start_mark.line + 1}); "
                                      "a config holds a few hundred")
                if depth[key] > MAX_DEPTH:
                    raise ConfigError(f"nested deeper than {MAX_DEPTH} levels once its aliases "
                                      f"(*name) are expanded (line {node.start_mark.line + 1})")
                continue
            if key in size:
                continue
            if key in on_path:
                raise ConfigError(f"a recursive alias at line {node.start_mark.line + 1} "
                                  "(an anchor used inside itself)")
            on_path.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in children(node) if id(c) not in size)

    return LimitedLoader


def loads_yaml(text: str, source: str = "<config>") -> Any:
    """Parse YAML text with the limits of :func:`load_yaml` (safe: no Python tags)."""
    import yaml

    if len(text.encode("utf-8", "surrogatepass")) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source} is larger than {MAX_CONFIG_BYTES >> 20} MiB; a config is "
                          "a few KB")
    try:
        return yaml.load(text, Loader=_limited_loader())  # noqa: S506 (a SafeLoader)
    except ConfigError as e:
        raise ConfigError(f"{source} is not a usable config: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{source} is not valid YAML: {_yaml_problem(e)}") from None
    except RecursionError:
        raise ConfigError(f"{source} is nested too deeply") from None


def _yaml_problem(e: Any) -> str:
    """One line: the problem and where (PyYAML's message spans lines and quotes the text)."""
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    mark = getattr(e, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{clip(' '.join(str(problem).split()), 160)}{where}"


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """A YAML config file as a dict: UTF-8 text of at most MAX_CONFIG_BYTES, parsed safely
    with limits on nesting and alias expansion; its top level and run sections mappings."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {clip(str(path), 200)!r} does not exist")
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {path} is {size / 2**20:.1f} MiB; a config is a few "
                              f"KB (limit {MAX_CONFIG_BYTES >> 20} MiB)")
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte 0x{raw[e.start]:02x} at "
                          f"offset {e.start}); save it as UTF-8") from None
    data = loads_yaml(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of sections (data:, model:, "
                          f"train:, …), not a {_kind(data)}")
    for key, value in data.items():
        if key in SECTIONS and value is not None and not isinstance(value, dict):
            raise ConfigError(f"config file {path}: section {key!r} must be a mapping of keys "
                              f"(e.g. {key}: {{…}}), got the {_kind(value)} {excerpt(value)}")
    return data


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number",
            bool: "boolean"}.get(type(value), type(value).__name__)


def load_config(path: str | os.PathLike) -> RunConfig:
    """Read and validate a YAML config file."""
    return parse_config(load_yaml(path))


def to_yaml(cfg: RunConfig) -> str:
    import yaml

    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
