"""Weight initialisation for deep networks (Var(w) chosen so that z keeps its scale).

For a layer with n[l−1] inputs (fan-in; for a convolution in_channels × kernel
size) and n[l] outputs (fan-out), weights are drawn from N(0, Var):

- he:     Var(w) = 2 / n[l−1]            (ReLU; He et al. 2015)
- xavier: Var(w) = 1 / n[l−1]            (tanh; also called LeCun init)
- lecun:  Var(w) = 1 / n[l−1]            (same rule as ``xavier`` here)
- glorot: Var(w) = 2 / (n[l−1] + n[l])   (Glorot & Bengio 2010)

Seed 004 of the course notes calls the 2/n rule "Xavier"; it is He's rule, and
netrx names it ``he``. Biases start at 0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from netrx.registry import INITS

__all__ = ["INITS", "fans", "glorot", "he", "init_weight_", "lecun", "variance", "xavier"]


def fans(weight: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a Linear [out, in] or Conv [out, in, *kernel] weight."""
    if weight.dim() < 2:
        raise ValueError(f"fans need a weight of rank ≥ 2, got shape {tuple(weight.shape)}")
    receptive = math.prod(weight.shape[2:]) if weight.dim() > 2 else 1
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def he(fan_in: int, fan_out: int) -> float:
    """Var(w) = 2 / n[l−1] (ReLU)."""
    return 2.0 / fan_in


def xavier(fan_in: int, fan_out: int) -> float:
    """Var(w) = 1 / n[l−1] (tanh)."""
    return 1.0 / fan_in


lecun = xavier


def glorot(fan_in: int, fan_out: int) -> float:
    """Var(w) = 2 / (n[l−1] + n[l]) (sigmoid)."""
    return 2.0 / (fan_in + fan_out)


def variance(rule: str, fan_in: int, fan_out: int) -> float:
    """The variance each rule (a name of :data:`~netrx.registry.INITS`) assigns to a weight."""
    return INITS.get(rule)(fan_in, fan_out)


@torch.no_grad()
def init_weight_(weight: Tensor, rule: str) -> Tensor:
    """w := randn(shape) · √Var(rule), in place.

    The notes' ``np.random.randn(shape) * np.sqrt(var)``."""
    fan_in, fan_out = fans(weight)
    return weight.normal_(0.0, math.sqrt(variance(rule, fan_in, fan_out)))
