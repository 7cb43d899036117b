"""Residual families ``resnet1d`` (sequences) and ``resnet2d`` (small images).

A convolutional stem, then ``stages`` stages of ``depth`` residual blocks (the
first block of every stage after the first halves the resolution and doubles
the width), global average pooling and a linear head. A block computes
a := g(x + BN(conv(g(BN(conv(x)))))), with a 1×1 strided projection on the
skip path when the shape changes (He et al. 2016).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from netrx.errors import ConfigError
from netrx.nn.builders import _activation, _as_shape, _init_rule
from netrx.nn.layers import AddChannel, BatchNorm, Conv1d, Conv2d, Dropout, Linear


class ResidualBlock(nn.Module):
    """Two convolutions with batch norm and an identity (or projected) skip."""

    def __init__(self, conv: type, in_ch: int, out_ch: int, stride: int, kernel: int,
                 activation: str, init: str) -> None:
        super().__init__()
        pad = kernel // 2
        self.conv1 = conv(in_ch, out_ch, kernel, stride=stride, padding=pad, bias=False, init=init)
        self.bn1 = BatchNorm(out_ch)
        self.act1 = _activation(activation)
        self.conv2 = conv(out_ch, out_ch, kernel, padding=pad, bias=False, init=init)
        self.bn2 = BatchNorm(out_ch)
        self.act2 = _activation(activation)
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.skip = nn.Sequential(conv(in_ch, out_ch, 1, stride=stride, bias=False, init=init),
                                      BatchNorm(out_ch))

    def forward(self, x: Tensor) -> Tensor:
        h = self.act1(self.bn1(self.conv1(x)))
        return self.act2(self.skip(x) + self.bn2(self.conv2(h)))


class GlobalAveragePool(nn.Module):
    """Mean over every dimension after the channel dimension: [B, C, ...] -> [B, C]."""

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(2).mean(-1)


def _resnet(conv: type, in_ch: int, n_outputs: int, width: int, depth: int, stages: int,
            kernel: int, activation: str, init: str, dropout: float,
            prefix: Sequence[nn.Module]) -> nn.Sequential:
    if width < 1 or depth < 1 or stages < 1:
        raise ConfigError(f"width, depth and stages must be ≥ 1, got {width}, {depth}, {stages}")
    rule = _init_rule(init, activation)
    layers: list[nn.Module] = [*prefix,
                               conv(in_ch, width, kernel, padding=kernel // 2, bias=False,
                                    init=rule),
                               BatchNorm(width), _activation(activation)]
    ch = width
    for s in range(stages):
        out = width * 2 ** s
        for b in range(depth):
            stride = 2 if (s > 0 and b == 0) else 1
            layers.append(ResidualBlock(conv, ch, out, stride, kernel, activation, rule))
            ch = out
    layers.append(GlobalAveragePool())
    if dropout > 0:
        layers.append(Dropout(dropout))
    layers.append(Linear(ch, n_outputs, init="xavier"))
    return nn.Sequential(*layers)


def resnet1d(input_shape: int | Sequence[int], n_outputs: int, *, width: int = 32,
             depth: int = 2, stages: int = 3, kernel: int = 5, activation: str = "relu",
             init: str = "auto", dropout: float = 0.0) -> nn.Sequential:
    """Residual 1-D CNN for sequences [L] or [C, L]."""
    shape = _as_shape(input_shape)
    if len(shape) not in (1, 2):
        raise ConfigError(f"resnet1d needs sequences [L] or [C, L], got input shape {shape}")
    in_ch = 1 if len(shape) == 1 else shape[0]
    return _resnet(Conv1d, in_ch, n_outputs, width, depth, stages, kernel, activation, init,
                   dropout, [AddChannel()])


def resnet2d(input_shape: Sequence[int], n_outputs: int, *, width: int = 32, depth: int = 2,
             stages: int = 2, kernel: int = 3, activation: str = "relu", init: str = "auto",
             dropout: float = 0.0) -> nn.Sequential:
    """Residual 2-D CNN for small images [C, H, W] (or [H, W])."""
    shape = _as_shape(input_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3:
        raise ConfigError(f"resnet2d needs images [C, H, W], got input shape {shape}")
    return _resnet(Conv2d, shape[0], n_outputs, width, depth, stages, kernel, activation, init,
                   dropout, [])
