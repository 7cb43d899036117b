"""Model builders: ``mlp``, ``cnn1d`` (MNIST-1D paper), ``cnn2d`` (small images)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from netrx.errors import ConfigError
from netrx.nn.layers import (
    AddChannel,
    BatchNorm,
    Conv1d,
    Conv2d,
    DropConnect,
    Dropout,
    InputDropout,
    Linear,
)
from netrx.registry import ACTIVATIONS, FAMILIES, INITS


def leaky_relu() -> nn.Module:
    """g(z) = max(0.01·z, z): the ``leaky_relu`` activation."""
    return nn.LeakyReLU(0.01)


#: the initialisation each activation calls for when ``init="auto"``
AUTO_INIT = {"relu": "he", "leaky_relu": "he", "tanh": "xavier", "sigmoid": "glorot"}


def _activation(name: str) -> nn.Module:
    return ACTIVATIONS.get(name)()


def _init_rule(init: str, activation: str) -> str:
    INITS.check(init)
    return AUTO_INIT.get(activation, "he") if init == "auto" else init


def _as_shape(input_shape: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(input_shape, int):
        return (int(input_shape),)
    return tuple(int(s) for s in input_shape)


def _linear(n_in: int, n_out: int, init: str, bias: bool, dropconnect: float) -> nn.Module:
    if dropconnect > 0:
        return DropConnect(n_in, n_out, p=dropconnect, init=init, bias=bias)
    return Linear(n_in, n_out, init=init, bias=bias)


def mlp(input_shape: int | Sequence[int], hidden: Sequence[int], n_outputs: int, *,
        activation: str = "relu", init: str = "auto", dropout: float = 0.0,
        batch_norm: bool = False, dropconnect: float = 0.0, input_dropout: float = 0.0,
        bn_momentum: float = 0.1) -> nn.Sequential:
    """Fully connected network: flatten, (InputDropout), then [Linear → (BatchNorm) → g →
    (Dropout)] per hidden layer, then a Linear output layer (logits).

    ``init="auto"`` picks He for ReLU-like activations, Xavier (1/n) for tanh,
    Glorot for sigmoid. ``dropconnect`` > 0 makes every Linear layer that reads
    hidden activations (where Dropout acts) a :class:`DropConnect` layer.
    """
    if any(int(h) < 1 for h in hidden):
        raise ConfigError(f"hidden sizes must be ≥ 1, got {list(hidden)}")
    rule = _init_rule(init, activation)
    layers: list[nn.Module] = [nn.Flatten()]
    if input_dropout > 0:
        layers.append(InputDropout(input_dropout))
    width = math.prod(_as_shape(input_shape))
    for i, h in enumerate(hidden):
        layers.append(_linear(width, int(h), rule, not batch_norm, dropconnect if i else 0.0))
        if batch_norm:
            layers.append(BatchNorm(int(h), momentum=bn_momentum))
        layers.append(_activation(activation))
        if dropout > 0:
            layers.append(Dropout(dropout))
        width = int(h)
    layers.append(_linear(width, n_outputs, "glorot" if rule == "glorot" else "xavier", True,
                          dropconnect if hidden else 0.0))
    return nn.Sequential(*layers)


def _conv_out(length: int, kernel: int, stride: int, padding: int) -> int:
    return (length + 2 * padding - kernel) // stride + 1


def cnn1d(input_shape: int | Sequence[int], n_outputs: int, *, channels: int = 25,
          activation: str = "relu", init: str = "auto", dropout: float = 0.0,
          batch_norm: bool = False, input_dropout: float = 0.0,
          bn_momentum: float = 0.1) -> nn.Sequential:
    """The MNIST-1D paper's CNN: three Conv1d of ``channels`` filters with stride 2
    (kernels 5, 3, 3; padding 1), each followed by g, then a linear layer."""
    shape = _as_shape(input_shape)
    in_ch, length = (1, shape[0]) if len(shape) == 1 else shape
    rule = _init_rule(init, activation)
    layers: list[nn.Module] = [AddChannel()]
    if input_dropout > 0:
        layers.append(InputDropout(input_dropout))
    for kernel in (5, 3, 3):
        layers.append(Conv1d(in_ch, channels, kernel, stride=2, padding=1, init=rule,
                             bias=not batch_norm))
        if batch_norm:
            layers.append(BatchNorm(channels, momentum=bn_momentum))
        layers.append(_activation(activation))
        length = _conv_out(length, kernel, 2, 1)
        in_ch = channels
    if length < 1:
        raise ConfigError(f"cnn1d needs sequences of length ≥ 9, got {shape}")
    layers.append(nn.Flatten())
    if dropout > 0:
        layers.append(Dropout(dropout))
    layers.append(Linear(channels * length, n_outputs, init="xavier"))
    return nn.Sequential(*layers)


def cnn2d(input_shape: Sequence[int], n_outputs: int, *, channels: int = 32,
          activation: str = "relu", init: str = "auto", dropout: float = 0.0,
          batch_norm: bool = False, input_dropout: float = 0.0,
          bn_momentum: float = 0.1) -> nn.Sequential:
    """A small CNN for small images such as 8×8 digits: two blocks of
    [Conv 3×3 → g → Conv 3×3 → g → MaxPool 2] (``channels``, then 2×``channels``
    filters), flatten, a linear output layer."""
    shape = _as_shape(input_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3:
        raise ConfigError(f"cnn2d needs images [C, H, W], got input shape {shape}")
    in_ch, h, w = shape
    rule = _init_rule(init, activation)
    layers: list[nn.Module] = [InputDropout(input_dropout)] if input_dropout > 0 else []
    for out_ch in (channels, 2 * channels):
        for _ in range(2):
            layers.append(Conv2d(in_ch, out_ch, 3, padding=1, init=rule, bias=not batch_norm))
            if batch_norm:
                layers.append(BatchNorm(out_ch, momentum=bn_momentum))
            layers.append(_activation(activation))
            in_ch = out_ch
        if min(h, w) >= 2:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
    layers.append(nn.Flatten())
    if dropout > 0:
        layers.append(Dropout(dropout))
    layers.append(Linear(in_ch * h * w, n_outputs, init="xavier"))
    return nn.Sequential(*layers)


def build(family: str, input_shape: Sequence[int], n_outputs: int, **options: object) -> nn.Module:
    """Build a model of a registered family; unknown families or options raise ConfigError."""
    builder = FAMILIES.get(family)
    FAMILIES.check_options(family, options)
    with torch.device("cpu"):
        if family == "mlp":
            options = dict(options)
            return mlp(input_shape, options.pop("hidden", (100, 100)), n_outputs, **options)
        return builder(input_shape, n_outputs=n_outputs, **options)
