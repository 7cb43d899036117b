"""Per-coordinate learning-rate multipliers: freezing and layer-wise learning rates.

The training loop hands the optimizer one flat [K, P] tensor, so a per-layer learning rate
is a [1, P] multiplier ``m`` over that layout (built with
:meth:`~netrx.population.population.Population.flat_mask`). Chained last, after
:func:`~netrx.optim.transforms.scale_by_lr` (and after any decoupled weight decay),
:func:`scale_by_mask` turns every member's step into ``m ⊙ u``:

* ``m_i = 0`` freezes coordinate i: its update is exactly 0, so the parameter stays
  bit-identical, whatever the optimizer (weight decay included);
* ``m_i = c`` multiplies the effective learning rate of coordinate i by c. For SGD,
  momentum and Adam alike the final step is linear in α, so scaling the step by c is the
  same as training that coordinate with learning rate c·α.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import Tensor

from netrx.errors import ConfigError
from netrx.optim.base import Params, Transform


class MaskState(NamedTuple):
    mask: dict[str, Tensor]  # name -> multiplier broadcastable against [K, ...]


def scale_by_mask(mask: Mapping[str, Tensor]) -> Transform:
    """u = m ⊙ g per coordinate (a multiplier ≥ 0; 0 freezes, c scales the learning rate).

    ``mask`` maps a parameter name to a tensor that broadcasts against that parameter's
    [K, ...] shape, e.g. ``{"flat": m}`` with m of shape [1, P] for the loop's flat layout.
    Names without a mask pass through unchanged. A frozen coordinate gets an update of
    exactly 0 even when its incoming update is NaN or ±inf.
    """
    for name, m in mask.items():
        if not isinstance(m, Tensor):
            raise ConfigError(f"mask {name!r} must be a tensor, got {type(m).__name__}")
        if m.numel() and (bool((m < 0).any()) or not bool(torch.isfinite(m).all())):
            raise ConfigError(f"mask {name!r} holds negative or non-finite multipliers; "
                              "use 0 to freeze and c > 0 to scale a learning rate")

    def init(params: Params) -> MaskState:
        out = {}
        for name, m in mask.items():
            if name not in params:
                continue
            like = params[name]
            m = m.to(device=like.device, dtype=like.dtype)
            try:
                torch.broadcast_shapes(m.shape, like.shape)
            except RuntimeError:
                raise ConfigError(f"mask {name!r} of shape {tuple(m.shape)} does not broadcast "
                                  f"against the parameter's shape {tuple(like.shape)}") from None
            out[name] = m
        return MaskState(out)

    def update(grads: Params, state: MaskState, params: Params | None = None):
        out = {}
        for name, g in grads.items():
            m = state.mask.get(name)
            out[name] = g if m is None else torch.where(m == 0, 0.0, g * m)
        return out, state

    return Transform(init, update)
