"""Flags shared by commands and flags that are more than one config key: the data flags of
``train`` and ``improve`` (typed once here), ``--vary``, ``--schedule`` with
``--schedule-param`` and ``--hidden``, each turned into config overrides."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from netrx.errors import ConfigError, did_you_mean


def _plain(value: Any) -> Any:
    """An Enum choice as its plain string (configs and YAML hold strings)."""
    return value.value if isinstance(value, Enum) else value


def choice(name: str, values: Iterable[str], help: str, *flags: str) -> Any:
    """An optional flag whose values are ``values``: ``--help`` lists them, the shell
    completes them (``netrx --install-completion``), a typo is a one-line usage error;
    the command receives the plain string (or None)."""
    options = Enum(name, {str(v): str(v) for v in values}, type=str)  # type: ignore[misc]
    return Annotated[options | None, typer.Option(*flags, help=help, callback=_plain,
                                                  case_sensitive=False)]


#: the data flags of train and improve (one definition; netrx.config.FLAT_KEYS names them)
TargetOpt = Annotated[str | None, typer.Option(help="CSV column to predict")]
TaskOpt = choice("Task", ("classification", "regression"),
                 "inferred from the target when not given")
ImputeOpt = choice("Impute", ("mean", "median", "most_frequent"),
                   "fill missing values with the training column's statistic")
DeviceOpt = choice("Device", ("auto", "cpu", "cuda"), "where to train (auto: cuda if present)")
DropOpt = Annotated[str | None, typer.Option(
    help="CSV columns to leave out, e.g. id,name (IDs, free text)")]
FeaturesOpt = Annotated[str | None, typer.Option(
    help="the CSV columns to use (default: all but the target and --drop)")]
TestOpt = Annotated[float | None, typer.Option(
    help="share of the rows held out as the test set (default 0.2); 0: none, for data "
         "whose test set you keep yourself (score it with netrx predict)")]
TargetErrorOpt = Annotated[float | None, typer.Option(
    help="Bayes / human-level error proxy for the verdict: an error rate, or for "
         "regression a fraction of the target's variance")]


def data_flags(**given: Any) -> dict[str, Any]:
    """The data flags as ``data`` keys: comma lists (``--drop a,b``) become lists."""
    out = dict(given)
    for key in ("drop", "features"):
        if isinstance(out.get(key), str):
            out[key] = [c.strip() for c in out[key].split(",") if c.strip()]
    return out


def out_file(out: Path, filename: str) -> Path:
    """``--out DIR`` means one thing on every command: the directory the command writes
    into (created if missing); ``filename`` is what this command writes there. A path
    that names a file (``--out preds.csv``) is refused with the directory form."""
    from netrx.errors import ConfigError

    out = Path(out)
    if out.suffix.lower() in (".csv", ".html", ".json", ".png", ".yaml") and not out.is_dir():
        raise ConfigError(f"--out {out} names a file; --out is the directory a command "
                          f"writes into: --out {out.parent or '.'} writes "
                          f"{(out.parent or Path('.')) / filename}")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory")
    out.mkdir(parents=True, exist_ok=True)
    return out / filename


def vary_overrides(vary: list[str], members: int, seed: int) -> dict[str, Any]:
    """``--vary KEY=DIST ...``: one seeded draw of ``DIST`` per member for each per-member
    key (a population's members may differ only in those)."""
    import numpy as np

    from netrx.config import MEMBER_KEYS
    from netrx.tune.distributions import parse_assignment

    paths = {**MEMBER_KEYS, **{v: v for v in MEMBER_KEYS.values()}}
    out: dict[str, Any] = {}
    rng = np.random.default_rng(seed)
    for text in vary:
        key, dist = parse_assignment(text)
        if key not in paths:
            raise ConfigError(
                f"--vary {key!r} cannot differ between members of one population"
                f"{did_you_mean(key, paths)}; member-wise keys: {', '.join(MEMBER_KEYS)} "
                "(architecture and batch size are searched with `netrx tune`)")
        if members < 2:
            raise ConfigError("--vary needs a population: add --members K with K ≥ 2")
        out[paths[key]] = dist.sample(rng, members)
    return out


def schedule_flags(name: str | None, params: list[str]) -> dict[str, Any]:
    """``--schedule NAME --schedule-param KEY=VALUE ...`` as config overrides (a new
    ``--schedule`` replaces the config's schedule; parameters alone amend it)."""
    import ast

    out: dict[str, Any] = {}
    if name is not None:
        out["optimizer.schedule"] = {"name": name}
    for text in params:
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--schedule-param {text!r}: write KEY=VALUE, e.g. decay_rate=1")
        try:
            value = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            value = raw.strip()
        out[f"optimizer.schedule.{key.strip()}"] = value
    return out


def parse_hidden(text: str) -> list[int]:
    """``--hidden 100,100`` as a list of widths."""
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise ConfigError(f"--hidden {text!r}: give comma-separated widths such as 100,100") \
            from None
    return sizes


def train_config(given: dict[str, Any]) -> Any:
    """``netrx train``'s options (``given``: by name, None = not given) over its YAML file
    (``config``) as a validated RunConfig: each flat key (:data:`netrx.config.FLAT_KEYS`)
    sets its path, then the flags that are more than one key, then ``--vary``'s draws."""
    from netrx.config import FLAT_KEYS, flat_overrides, load_yaml, merge, parse_config

    base = load_yaml(given["config"]) if given.get("config") is not None else {}
    given = {**given, **data_flags(drop=given.get("drop"), features=given.get("features"))}
    if given.get("hidden") is not None:
        given["hidden"] = parse_hidden(given["hidden"])
    flags = flat_overrides({k: v for k, v in given.items() if k in FLAT_KEYS})
    if given.get("early_stopping") is not None:
        flags["train.early_stopping"] = {"patience": given["early_stopping"]}
    flags.update(schedule_flags(given.get("schedule"), given.get("schedule_param") or []))
    if given.get("reduce_lr_on_plateau") is not None:
        flags["train.reduce_lr_on_plateau"] = {"patience": given["reduce_lr_on_plateau"]}
    data = merge(base, flags)
    if given.get("vary"):  # drawn before validation: --vary replaces a per-member list
        sizes = parse_config({k: data[k] for k in ("members", "seed") if k in data})
        data = merge(data, vary_overrides(given["vary"], sizes.members, sizes.seed))
    return parse_config(data)


def config_default(path: str) -> str:
    """``(default V)`` for a help text: the config schema's default at ``path`` (a flag left
    unset keeps the config file's value, so the flag itself defaults to None). Round
    brackets: rich would take ``[default: V]`` for markup and print nothing."""
    from netrx.config import get_path

    value = get_path(_default_config(), path)
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return f"(default {value})"


@functools.cache
def _default_config() -> Any:
    from netrx.config import RunConfig

    return RunConfig()


#: ``netrx train``'s options whose help shows the config's default
HiddenOpt = Annotated[str | None, typer.Option(
    help=f"hidden widths, e.g. 100,100 {config_default('model.hidden')}")]
DropoutOpt = Annotated[float | None, typer.Option(
    help=f"dropout rate 1 − keep_prob {config_default('model.dropout')}")]
LrOpt = Annotated[float | None, typer.Option(
    help=f"learning rate α {config_default('optimizer.lr')}")]
EpochsOpt = Annotated[int | None, typer.Option(
    help=f"passes over the training set {config_default('train.epochs')}")]
BatchSizeOpt = Annotated[int | None, typer.Option(
    help=f"examples per update {config_default('train.batch_size')}")]
MembersOpt = Annotated[int | None, typer.Option(
    help=f"population size K {config_default('members')}")]
SeedOpt = Annotated[int | None, typer.Option(
    help=f"member k starts from seed + k {config_default('seed')}")]
