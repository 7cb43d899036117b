"""The registry of named choices: names, "did you mean", option checks, lazy imports."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from netrx import registry
from netrx.errors import ConfigError
from netrx.registry import (
    ACTIVATIONS,
    AUGMENTATIONS,
    DISTRIBUTIONS,
    FAMILIES,
    INITS,
    LOSSES,
    OPTIMIZERS,
    PRUNERS,
    SAMPLERS,
    SCHEDULES,
    Registry,
)

SRC = Path(registry.__file__).resolve().parent

KINDS = {
    "optimizer": (OPTIMIZERS, {"sgd", "momentum", "heavy_ball", "nesterov", "adagrad",
                               "rmsprop", "adam", "adamw", "lbfgs"}),
    "schedule": (SCHEDULES, {"constant", "inverse_time", "exponential", "inverse_sqrt", "step",
                             "staircase", "cosine", "linear_warmup", "join"}),
    "model family": (FAMILIES, {"mlp", "cnn1d", "cnn2d", "resnet1d", "resnet2d"}),
    "activation": (ACTIVATIONS, {"relu", "leaky_relu", "tanh", "sigmoid"}),
    "init": (INITS, {"he", "xavier", "lecun", "glorot"}),
    "loss": (LOSSES, {"cross_entropy", "bce", "mse"}),
    "augment preset": (AUGMENTATIONS, {"signal", "image"}),
    "strategy": (SAMPLERS, {"grid", "random", "sobol", "tpe", "coarse_to_fine"}),
    "pruner": (PRUNERS, {"none", "median", "asha", "hyperband"}),
    "distribution": (DISTRIBUTIONS, {"log_uniform", "one_minus_log", "uniform", "int",
                                     "choice"}),
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_lists_its_names_and_resolves_them(kind):
    reg, expected = KINDS[kind]
    assert reg.kind == kind
    assert set(reg.names()) == expected and len(reg) == len(expected)
    assert set(reg) == expected and all(name in reg for name in expected)
    assert set(reg.choices()) == expected | set(reg.special)
    for name, factory in reg.items():  # every lazy declaration points at a real object
        assert factory is not None, name
        assert reg.get(name) is factory and reg[name] is factory


def test_special_choices_are_valid_but_have_no_entry():
    assert INITS.check("auto") == "auto" and "auto" not in INITS
    assert AUGMENTATIONS.special == ("none", "auto") and LOSSES.special == ("auto",)
    assert AUGMENTATIONS.describe() == "none, auto, signal or image"


def _typo(name: str) -> str:
    return name[:-1] + ("x" if name[-1] != "x" else "y") if len(name) > 3 else name + "x"


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_name_of_each_kind_raises_with_a_suggestion(kind):
    reg, expected = KINDS[kind]
    name = max(expected, key=len)
    bad = _typo(name)
    for lookup in (reg.check, reg.get):
        with pytest.raises(ConfigError) as e:
            lookup(bad)
        msg = str(e.value)
        assert f"unknown {kind} {bad!r}" in msg
        assert f"did you mean {name!r}" in msg
        assert "choose one of: " in msg and all(n in msg for n in expected)


def test_unknown_options_raise_with_the_accepted_options():
    with pytest.raises(ConfigError) as e:
        OPTIMIZERS.check_options("adam", ["b1", "beta"])
    assert str(e.value) == ("optimizer 'adam' has no hyperparameter 'beta'; it takes: "
                            "b1, b2, bias_correction, eps, lr")
    with pytest.raises(ConfigError, match="has no hyperparameter 'clip'.*clip_norm, clip_value"):
        OPTIMIZERS.check_options("sgd", ["clip"], extra=("clip_norm", "clip_value"))
    with pytest.raises(ConfigError, match="model 'mlp' has no option 'hiden' "
                                          r"\(did you mean 'hidden'\?\); it takes: activation"):
        FAMILIES.check_options("mlp", ["hiden"])
    with pytest.raises(ConfigError, match="schedule 'cosine' has no parameter 'totl'.*lr_min"):
        SCHEDULES.check_options("cosine", ["totl"])
    OPTIMIZERS.check_options("adamw", ["lr", "weight_decay"])  # no error


def test_options_come_from_the_signature_without_the_fixed_parameters():
    assert OPTIMIZERS.options("adamw") == ("lr", "b1", "b2", "eps", "weight_decay",
                                           "bias_correction")  # mask is passed by netrx
    assert OPTIMIZERS.takes("adamw", "mask") and not OPTIMIZERS.takes("adam", "mask")
    assert "lr" not in SCHEDULES.options("cosine") and SCHEDULES.required("cosine") == ("total",)
    assert "input_shape" not in FAMILIES.options("resnet1d")
    assert FAMILIES.accepts("resnet2d", "depth") and not FAMILIES.accepts("mlp", "depth")
    assert FAMILIES.default("cnn1d", "channels") == 25 and FAMILIES.default("mlp", "x") is None


def test_the_signature_is_read_once_per_name(monkeypatch):
    import inspect

    reg = Registry("thing")
    reg.register("f", lambda a, b=1: None)
    calls = []
    real = inspect.signature
    monkeypatch.setattr(inspect, "signature", lambda f: calls.append(f) or real(f))
    for _ in range(3):
        assert reg.options("f") == ("a", "b") and reg.required("f") == ("a",)
    assert len(calls) == 1


def test_register_adds_entries_and_refuses_duplicates():
    reg = Registry("widget", {"plain": "netrx.errors:did_you_mean"}, special=("auto",))

    @reg.register("fancy")
    def fancy(size: int = 2) -> int:
        return size

    assert reg.names() == ("plain", "fancy") and reg.get("fancy") is fancy
    assert reg.options("fancy") == ("size",)
    from netrx.errors import did_you_mean

    assert reg.get("plain") is did_you_mean
    for name in ("fancy", "auto"):
        with pytest.raises(ConfigError, match="already registered"):
            reg.register(name, len)
    with pytest.raises(ValueError, match="module:attribute"):
        reg.lazy("broken", "netrx.errors")


def test_a_registered_family_builds_through_the_registry():
    import torch

    from netrx.nn import build

    def tiny(input_shape, n_outputs, *, bias: bool = True) -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, n_outputs, bias=bias))

    FAMILIES.register("tiny_test_family", tiny)
    try:
        model = build("tiny_test_family", (4,), 3, bias=False)
        assert model[1].bias is None
        with pytest.raises(ConfigError, match="no option 'bais'.*did you mean 'bias'"):
            build("tiny_test_family", (4,), 3, bais=False)
    finally:
        FAMILIES._entries.pop("tiny_test_family")


def test_the_old_public_names_are_the_registries():
    import netrx.nn
    import netrx.optim
    import netrx.optim.schedules
    import netrx.train.losses

    assert netrx.optim.OPTIMIZERS is OPTIMIZERS
    assert netrx.optim.schedules.SCHEDULES is SCHEDULES
    assert netrx.nn.FAMILIES is FAMILIES and netrx.nn.ACTIVATIONS is ACTIVATIONS
    assert netrx.nn.INITS is INITS and netrx.train.losses.LOSSES is LOSSES
    assert LOSSES["cross_entropy"].name == "cross_entropy"


LAZY_CHECK = """
import sys, types
# load netrx's modules without running the package __init__ (which imports the engine)
pkg = types.ModuleType("netrx")
pkg.__path__ = [{src!r}]
sys.modules["netrx"] = pkg
from netrx import config, registry
names = {{k: r.choices() for k, r in vars(registry).items() if isinstance(r, registry.Registry)}}
assert len(names) == 10 and "adam" in names["OPTIMIZERS"], names
registry.OPTIMIZERS.check("adam")
registry.FAMILIES.describe()
try:
    registry.SCHEDULES.check("cosin")
except Exception as e:
    assert "did you mean 'cosine'" in str(e)
config.parse_config({{"augment": {{"preset": "signal"}}}})
heavy = [m for m in ("torch", "optuna", "numpy", "netrx.optim.aliases", "netrx.nn.builders",
                     "netrx.tune.samplers", "netrx.train.losses", "netrx.data.augment")
         if m in sys.modules]
assert not heavy, heavy
registry.OPTIMIZERS.get("sgd")
assert "netrx.optim.aliases" in sys.modules and "torch" in sys.modules
print("ok")
"""


def test_listing_names_and_validating_a_config_import_no_torch():
    code = textwrap.dedent(LAZY_CHECK.format(src=str(SRC)))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_no_module_reads_signatures_outside_the_registry():
    readers = [p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")
               if "inspect.signature" in p.read_text() and p.name != "registry.py"]
    assert readers == []
