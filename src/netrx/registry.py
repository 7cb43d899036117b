"""Every string-named choice of netrx, declared once: one :class:`Registry` per kind.

A registry maps a name to its factory (an optimizer alias, a schedule, a model builder, a
loss, a sampler, ...). The built-in names are declared here lazily, as ``"module:attribute"``
strings resolved on first use, so that the config, the CLI and ``--help`` list and check
names without importing torch or Optuna; each name points straight at the module that
defines it (``resnet1d`` at :mod:`netrx.nn.resnet`), and no module changes another's table
when it is imported. Code outside netrx adds its own with :meth:`Registry.register`.

Like scikit-learn's ``_parameter_constraints``, the valid values are stated once and every
edge reads them: :meth:`Registry.check` and :meth:`Registry.get` raise
:class:`~netrx.errors.ConfigError` with a "did you mean"; :meth:`Registry.check_options`
checks keyword options against the factory's signature, read once per name.

This module sits at the bottom layer: it imports only :mod:`netrx.errors` and the stdlib.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from netrx.errors import ConfigError, did_you_mean, unknown_choice

__all__ = ["ACTIVATIONS", "AUGMENTATIONS", "DISTRIBUTIONS", "FAMILIES", "INITS", "LOSSES",
           "OPTIMIZERS", "PRUNERS", "Registry", "SAMPLERS", "SCHEDULES"]


class _Lazy:
    """A ``"module:attribute"`` declaration, imported when the name is first used."""

    __slots__ = ("target",)

    def __init__(self, target: str) -> None:
        module, sep, attribute = target.partition(":")
        if not sep or not module or not attribute:
            raise ValueError(f"a lazy entry is 'module:attribute', got {target!r}")
        self.target = target

    def resolve(self) -> Any:
        module, _, attribute = self.target.partition(":")
        obj: Any = importlib.import_module(module)
        for part in attribute.split("."):
            obj = getattr(obj, part)
        return obj


class Registry:
    """Names of one ``kind`` → factories (or plain values, e.g. a loss's ``Objective``).

    ``lazy`` declares ``{name: "module:attribute"}``; ``special`` names are valid choices
    that the caller resolves itself (``auto``, ``none``) and that have no entry. For option
    checks, ``fixed`` parameters are supplied by the caller rather than by the user
    (``lr`` of a schedule, ``input_shape`` of a builder), and messages read
    "``label`` 'name' has no ``noun`` 'key'".
    """

    def __init__(self, kind: str, lazy: Mapping[str, str] | None = None, *,
                 label: str | None = None, noun: str = "option", fixed: Iterable[str] = (),
                 special: Iterable[str] = ()) -> None:
        self.kind = kind
        self.label = label or kind
        self.noun = noun
        self.fixed = frozenset(fixed)
        self.special = tuple(special)
        self._entries: dict[str, Any] = {}
        self._params: dict[str, dict[str, inspect.Parameter]] = {}
        for name, target in (lazy or {}).items():
            self.lazy(name, target)

    # -- declaring ---------------------------------------------------------------------
    def lazy(self, name: str, target: str) -> None:
        """Declare ``name`` as ``"module:attribute"``, imported on first use."""
        self._add(name, _Lazy(target))

    def register(self, name: str, obj: Any = None) -> Any:
        """Add ``name`` → ``obj``; without ``obj``, a decorator that registers what it wraps."""
        if obj is None:
            def decorate(f: Any) -> Any:
                self._add(name, f)
                return f
            return decorate
        self._add(name, obj)
        return obj

    def _add(self, name: str, entry: Any) -> None:
        if name in self._entries or name in self.special:
            raise ConfigError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        self._params.pop(name, None)

    # -- names -------------------------------------------------------------------------
    def names(self) -> tuple[str, ...]:
        """The registered names, in declaration order (imports nothing)."""
        return tuple(self._entries)

    def choices(self) -> tuple[str, ...]:
        """Every valid value: the special names (``auto``, ...) then the registered ones."""
        return (*self.special, *self._entries)

    def describe(self) -> str:
        """The choices as prose for help texts: ``"a, b or c"``."""
        c = self.choices()
        return c[0] if len(c) == 1 else f"{', '.join(c[:-1])} or {c[-1]}"

    def check(self, name: Any) -> str:
        """``name`` if it is a valid choice, else ConfigError with a suggestion."""
        if name not in self._entries and name not in self.special:
            raise unknown_choice(self.kind, str(name), self.choices())
        return name

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"

    # -- entries -----------------------------------------------------------------------
    def get(self, name: str) -> Any:
        """The factory of ``name`` (imported now if declared lazily); ConfigError with a
        "did you mean" for an unknown name."""
        try:
            entry = self._entries[name]
        except (KeyError, TypeError):
            raise unknown_choice(self.kind, str(name), self._entries) from None
        if isinstance(entry, _Lazy):
            entry = self._entries[name] = entry.resolve()
        return entry

    __getitem__ = get

    def items(self) -> Iterator[tuple[str, Any]]:
        """(name, factory) pairs; resolves every lazy entry."""
        return ((name, self.get(name)) for name in self.names())

    # -- options -----------------------------------------------------------------------
    def _parameters(self, name: str) -> dict[str, inspect.Parameter]:
        params = self._params.get(name)
        if params is None:
            factory = self.get(name)
            try:
                sig = inspect.signature(factory) if callable(factory) else None
            except (TypeError, ValueError):
                sig = None
            params = {} if sig is None else {
                p.name: p for p in sig.parameters.values()
                if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
            self._params[name] = params
        return params

    def takes(self, name: str, parameter: str) -> bool:
        """Whether the factory has ``parameter`` at all (a fixed one included)."""
        return parameter in self._parameters(name)

    def options(self, name: str) -> tuple[str, ...]:
        """The keyword options a user may set, in signature order (fixed ones left out)."""
        return tuple(p for p in self._parameters(name) if p not in self.fixed)

    def required(self, name: str) -> tuple[str, ...]:
        """The options without a default."""
        params = self._parameters(name)
        return tuple(p for p in self.options(name)
                     if params[p].default is inspect.Parameter.empty)

    def default(self, name: str, option: str) -> Any:
        """The default of ``option`` (None when it has none or does not exist)."""
        p = self._parameters(name).get(option)
        return None if p is None or p.default is inspect.Parameter.empty else p.default

    def accepts(self, name: str, option: str) -> bool:
        """Whether ``option`` is one of ``name``'s options."""
        return option in self.options(name)

    def check_options(self, name: str, options: Iterable[str], *,
                      extra: Iterable[str] = ()) -> None:
        """ConfigError naming the first option ``name`` does not take (``extra`` are taken
        too), with a suggestion and every accepted option."""
        accepted = sorted({*self.options(name), *extra})
        for key in options:
            if key not in accepted:
                raise ConfigError(f"{self.label} {name!r} has no {self.noun} {key!r}"
                                  f"{did_you_mean(key, accepted)}; it takes: "
                                  f"{', '.join(accepted)}")


def _declare(module: str, *names: str, **aliases: str) -> dict[str, str]:
    """``{name: "module:name"}`` for ``names``, and ``{alias: "module:target"}``."""
    return {**{n: f"{module}:{n}" for n in names},
            **{a: f"{module}:{t}" for a, t in aliases.items()}}


#: optimizers by name (``optimizer.name``, ``--optimizer``): :mod:`netrx.optim.aliases`
OPTIMIZERS = Registry("optimizer", _declare(
    "netrx.optim.aliases", "sgd", "momentum", "heavy_ball", "nesterov", "adagrad", "rmsprop",
    "adam", "adamw", "lbfgs"), noun="hyperparameter", fixed=("mask",))

#: learning-rate schedules (``optimizer.schedule.name``, ``--schedule``); α0 is the optimizer's
SCHEDULES = Registry("schedule", {
    **_declare("netrx.optim.schedules", "constant", "inverse_time", "exponential",
               "inverse_sqrt", "step"),
    "staircase": "netrx.optim.schedules:step",
    **_declare("netrx.optim.schedules", "cosine", "linear_warmup", "join"),
}, noun="parameter", fixed=("lr",))

#: model builders (``model.family``, ``--model``); ``input_shape`` and ``n_outputs`` come
#: from the data
FAMILIES = Registry("model family", {
    **_declare("netrx.nn.builders", "mlp", "cnn1d", "cnn2d"),
    **_declare("netrx.nn.resnet", "resnet1d", "resnet2d"),
}, label="model", fixed=("input_shape", "n_outputs"))

#: activations g (``model.activation``): name → a module factory
ACTIVATIONS = Registry("activation", {
    "relu": "torch.nn:ReLU", "leaky_relu": "netrx.nn.builders:leaky_relu",
    "tanh": "torch.nn:Tanh", "sigmoid": "torch.nn:Sigmoid"})

#: initialisation rules (``model.init``): name → Var(w) from (fan_in, fan_out); ``auto``
#: picks the activation's rule
INITS = Registry("init", _declare("netrx.nn.init", "he", "xavier", "lecun", "glorot"),
                 special=("auto",))

#: losses (``train.loss``): name → :class:`~netrx.train.losses.Objective`; ``auto`` follows
#: the task
LOSSES = Registry("loss", _declare("netrx.train.losses", cross_entropy="CROSS_ENTROPY",
                                   bce="BCE", mse="MSE"), special=("auto",))

#: augmentation presets (``augment.preset``, ``--augment``): name → the augmentation class;
#: ``auto`` follows the input shape, ``none`` turns it off
AUGMENTATIONS = Registry("augment preset", _declare(
    "netrx.data.augment", signal="SignalAugment", image="ImageAugment"),
    special=("none", "auto"))

#: search strategies (``search.strategy``): name → f(tune config, worker seed) → sampler
SAMPLERS = Registry("strategy", _declare(
    "netrx.tune.samplers", grid="grid_sampler", random="random_sampler",
    sobol="sobol_sampler", tpe="tpe_sampler", coarse_to_fine="coarse_to_fine_sampler"))

#: pruners (``search.pruner``): name → f(tune config) → pruner
PRUNERS = Registry("pruner", _declare(
    "netrx.tune.samplers", none="no_pruner", median="median_pruner", asha="asha_pruner",
    hyperband="hyperband_pruner"))

#: distributions of the search-space DSL (``log_uniform(1e-4, 1)``): name → the scale the
#: search is uniform on
DISTRIBUTIONS = Registry("distribution")
for _kind, _scale in (("log_uniform", "log"), ("one_minus_log", "one_minus_log"),
                      ("uniform", "linear"), ("int", "linear"), ("choice", "categorical")):
    DISTRIBUTIONS.register(_kind, _scale)
del _kind, _scale
