"""Config keys by name: dotted paths (``optimizer.lr``) into a config or a nested dict,
the flat names that the CLI, the estimators and ``--vary`` use for them, and member-wise
values (one number, or one per member)."""

from __future__ import annotations

import copy
from typing import Any

from netrx.errors import ConfigError

MemberValue = float | list[float]

#: The flat names of config keys, one list: ``netrx train``'s options, the parameters of
#: ``NetClassifier`` / ``NetRegressor`` and ``--vary``'s keys are these names (a test checks
#: the three against it); flat name → dotted path.
FLAT_KEYS = {
    "dataset": "data.dataset", "target": "data.target", "task": "data.task",
    "impute": "data.impute", "drop": "data.drop", "features": "data.features",
    "target_error": "data.target_error", "test": "data.test",
    "family": "model.family", "hidden": "model.hidden", "activation": "model.activation",
    "init": "model.init", "dropout": "model.dropout", "batch_norm": "model.batch_norm",
    "channels": "model.channels",
    "optimizer": "optimizer.name", "lr": "optimizer.lr", "b1": "optimizer.b1",
    "b2": "optimizer.b2", "eps": "optimizer.eps", "beta": "optimizer.beta",
    "rho": "optimizer.rho", "adamw_weight_decay": "optimizer.weight_decay",
    "clip_norm": "optimizer.clip_norm", "clip_value": "optimizer.clip_value",
    "decay_rate": "optimizer.schedule.decay_rate", "gamma": "optimizer.schedule.gamma",
    "k": "optimizer.schedule.k",
    "epochs": "train.epochs", "batch_size": "train.batch_size", "loss": "train.loss",
    "tensorboard": "train.tensorboard", "compile": "train.compile",
    "l2": "regularization.l2", "l1": "regularization.l1", "l1_mode": "regularization.l1_mode",
    "weight_decay": "regularization.weight_decay", "max_norm": "regularization.max_norm",
    "label_smoothing": "regularization.label_smoothing",
    "dropconnect": "regularization.dropconnect",
    "input_dropout": "regularization.input_dropout",
    "augment": "augment.preset", "noise": "augment.noise",
    "init_from": "transfer.init_from", "freeze": "transfer.freeze",
    "transfer": "transfer.strategy", "similarity": "transfer.similarity",
    "members": "members", "seed": "seed", "device": "device", "name": "name", "out": "out",
}
#: the flat keys whose value may differ between members (one value, or one per member)
MEMBER_KEYS = {name: FLAT_KEYS[name] for name in (
    "lr", "b1", "b2", "eps", "dropout", "l2", "l1", "weight_decay", "max_norm",
    "label_smoothing", "dropconnect", "input_dropout", "noise", "beta", "rho",
    "adamw_weight_decay", "clip_norm", "clip_value", "decay_rate", "gamma", "k")}


def flat_overrides(values: dict[str, Any]) -> dict[str, Any]:
    """``{flat name: value}`` (None = not given) as ``{dotted path: value}`` overrides."""
    return {FLAT_KEYS[k]: v for k, v in values.items() if v is not None}


def member_values(value: MemberValue, members: int) -> list[float]:
    """A member-wise value (one number, or one per member) as K floats."""
    return [float(v) for v in value] if isinstance(value, list) else [float(value)] * members


def get_path(cfg: Any, path: str) -> Any:
    """The value at the dotted ``path`` of a config (or a nested dict); None if absent."""
    obj: Any = cfg
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else getattr(obj, part, None)
    return obj


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
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        set_path(out, key, value)
    return out


