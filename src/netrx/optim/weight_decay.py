"""Decoupled weight decay as a transform around any optimizer (Loshchilov & Hutter)."""

from __future__ import annotations

from typing import Any

import torch

from netrx.errors import ConfigError
from netrx.optim.base import Hyper, Params, Transform, as_device_hyper, check_strength, per_member
from netrx.optim.transforms import add_decayed_weights, current_lr


def decoupled_weight_decay(base: Transform, weight_decay: Hyper, lr: Hyper | None = None,
                           mask: Params | None = None) -> Transform:
    """Decoupled weight decay (Loshchilov & Hutter) around any optimizer ``base``::

        θ := θ + u_base − α_t·λ_wd·θ        (on the entries where ``mask`` is 1)

    i.e. every step shrinks the weights by the factor (1 − α_t·λ_wd) next to the
    optimizer's own step u_base: AdamW for ``adam``, SGDW for momentum. For
    plain SGD it equals the L2 penalty with λ/m = λ_wd. α_t is the base
    optimizer's current learning rate (its schedule and ReduceLROnPlateau factor
    included, read from its :func:`~netrx.optim.transforms.scale_by_lr` state);
    ``lr`` (a float or [K]) is used only when ``base`` has no such state. The
    decay term λ_wd·θ comes from :func:`~netrx.optim.transforms.add_decayed_weights`
    applied to a zero gradient, so it never passes through the optimizer's moments.
    """
    check_strength("weight_decay", weight_decay)
    decay = add_decayed_weights(weight_decay, mask)

    fallback: list[Hyper] = []

    def init(params: Params) -> tuple[Any, Any]:
        base_state = base.init(params)
        if current_lr(base_state) is None:
            if lr is None or callable(lr):
                raise ConfigError("decoupled weight decay needs the learning rate α: the "
                                  "optimizer has no scale_by_lr; pass lr as a float or [K]")
            fallback[:] = [as_device_hyper(lr, next(iter(params.values())))]
        return base_state, decay.init(params)

    def update(grads: Params, state: tuple[Any, Any], params: Params | None = None):
        if params is None:
            raise ValueError("decoupled_weight_decay needs the params in update()")
        updates, base_state = base.update(grads, state[0], params)
        alpha = current_lr(base_state)
        if alpha is None:
            alpha = fallback[0]
        zeros = {k: torch.zeros_like(p) for k, p in params.items()}
        shrink, decay_state = decay.update(zeros, state[1], params)  # λ_wd·θ ⊙ mask
        out = {k: u - per_member(alpha, u) * shrink[k] for k, u in updates.items()}
        return out, (base_state, decay_state)

    return Transform(init, update)

