"""Optimizer primitives. Each docstring carries the formula it implements.

``g`` is the incoming gradient (or the update of the previous transform in a
chain), ``t`` the per-member step count starting at 1, ``u`` the outgoing
update that :func:`~netrx.optim.base.apply_updates` adds to θ.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from netrx.optim.base import (
    Hyper,
    Params,
    Transform,
    as_device_hyper,
    member_count,
    per_member,
    tree_zeros_like,
)


class ScaleState(NamedTuple):
    pass


def scale_by_lr(lr: Hyper) -> Transform:
    """u = −α·g (descent: the step goes against the gradient)."""

    def init(params: Params) -> ScaleState:
        nonlocal lr
        lr = as_device_hyper(lr, next(iter(params.values())))
        return ScaleState()

    def update(grads: Params, state: ScaleState, params: Params | None = None):
        return {k: g * per_member(-lr, g) for k, g in grads.items()}, state

    return Transform(init, update)


class AdamState(NamedTuple):
    count: Tensor  # [K], steps taken by each member
    mu: Params  # first-moment EWA, V_dw
    nu: Params  # second-moment EWA, S_dw


def scale_by_adam(b1: Hyper = 0.9, b2: Hyper = 0.999, eps: Hyper = 1e-8,
                  bias_correction: bool = True) -> Transform:
    """Adam's direction, RMSprop + momentum with bias correction::

        V = β1·V + (1 − β1)·g          S = β2·S + (1 − β2)·g²
        V̂ = V / (1 − β1ᵗ)              Ŝ = S / (1 − β2ᵗ)
        u = V̂ / (√Ŝ + ε)

    (chain with :func:`scale_by_lr` for the step −α·u). Without bias
    correction V̂ = V and Ŝ = S.
    """

    def init(params: Params) -> AdamState:
        nonlocal b1, b2, eps
        like = next(iter(params.values()))
        b1, b2, eps = (as_device_hyper(h, like) for h in (b1, b2, eps))
        count = torch.zeros(member_count(params), device=like.device, dtype=like.dtype)
        return AdamState(count, tree_zeros_like(params), tree_zeros_like(params))

    def update(grads: Params, state: AdamState, params: Params | None = None):
        count = state.count.add_(1)
        if bias_correction:
            c1 = 1 - torch.pow(b1, count)
            c2 = 1 - torch.pow(b2, count)
        updates = {}
        for k, g in grads.items():
            m, v = state.mu[k], state.nu[k]
            m.lerp_(g, per_member(1 - b1, g))
            v.mul_(per_member(b2, g)).addcmul_(g, g * per_member(1 - b2, g))
            if bias_correction:
                denom = (v / per_member(c2, v)).sqrt_().add_(per_member(eps, v))
                updates[k] = (m / per_member(c1, m)).div_(denom)
            else:
                updates[k] = m / (v.sqrt() + per_member(eps, v))
        return updates, AdamState(count, state.mu, state.nu)

    return Transform(init, update)


class EmptyState(NamedTuple):
    pass


def add_decayed_weights(weight_decay: Hyper, mask: Params | None = None) -> Transform:
    """Decoupled weight decay (AdamW): u = g + λ_wd·θ, on the entries where ``mask`` is 1.

    Placed before :func:`scale_by_lr` in a chain, the step becomes
    θ := θ − α·(g + λ_wd·θ) = (1 − αλ_wd)·θ − α·g. ``mask`` maps names to 0/1
    tensors broadcastable against the parameters (e.g.
    :meth:`~netrx.population.Population.weight_mask`: weights, not biases or
    batch-norm γ/β).
    """

    def init(params: Params) -> EmptyState:
        nonlocal weight_decay, mask
        like = next(iter(params.values()))
        weight_decay = as_device_hyper(weight_decay, like)
        if mask is not None:
            mask = {k: (m.to(like.device, like.dtype) if isinstance(m, Tensor) else m)
                    for k, m in mask.items()}
        return EmptyState()

    def update(grads: Params, state: EmptyState, params: Params | None = None):
        if params is None:
            raise ValueError("add_decayed_weights needs the params in update(grads, state, params)")
        out = {}
        for k, g in grads.items():
            decay = params[k] * per_member(weight_decay, g)
            if mask is not None:
                decay = decay * mask[k]
            out[k] = g + decay
        return out, state

    return Transform(init, update)
