"""Optimizer primitives. Each docstring carries the formula it implements.

``g`` is the incoming gradient (or the update of the previous transform in a
chain), ``t`` the per-member step count starting at 1, ``u`` the outgoing
update that :func:`~netrx.optim.base.apply_updates` adds to θ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from netrx.optim.base import (
    Hyper,
    OnDevice,
    Params,
    Scratch,
    Transform,
    as_device_hyper,
    member_count,
    per_member,
    tree_zeros_like,
)
from netrx.optim.fused import Kernel, Out


class LrState(NamedTuple):
    count: Tensor  # [K], updates made by each member (t of the last update)
    scale: Tensor  # [K], multiplies α; ReduceLROnPlateau scales it in place
    lr: Any  # α: a float, a [K] tensor or a schedule t ↦ α(t) (static, not trained)
    scratch: Scratch  # the output buffers


def _lr_to(lr: Any, like: Tensor) -> Any:
    if isinstance(lr, Tensor) or not callable(lr):
        return as_device_hyper(lr, like)
    return lr.to(like) if hasattr(lr, "to") else lr


def scale_by_lr(lr: Hyper | Callable[[Tensor], Tensor]) -> Transform:
    """u = −s·α(t)·g (descent: the step goes against the gradient).

    ``lr`` is a float, a [K] tensor, or a schedule t ↦ α(t) (:mod:`netrx.optim.schedules`) called
    with the per-member update index t = 1, 2, …; ``s`` is a per-member factor, 1 at the
    start, that :class:`~netrx.train.plateau.ReduceLROnPlateau` lowers in place.
    """

    def init(params: Params) -> LrState:
        like = next(iter(params.values()))
        K = member_count(params)
        zeros = torch.zeros(K, device=like.device, dtype=like.dtype)
        return LrState(zeros, torch.ones_like(zeros), _lr_to(lr, like), Scratch())

    def update(grads: Params, state: LrState, params: Params | None = None):
        count = state.count.add_(1)
        alpha = state.lr(count) if callable(state.lr) else state.lr
        step = -(state.scale * alpha)
        return {k: torch.mul(g, per_member(step, g), out=state.scratch(k, g))
                for k, g in grads.items()}, state

    def fused(x: Params, scale: Tensor | None, state: LrState, params: Params | None,
              out: Out):
        count = state.count.add_(1)
        alpha = state.lr(count) if callable(state.lr) else state.lr
        step = -(state.scale * alpha)
        return x, step if scale is None else scale * step, state

    return Transform(init, update, kernel=Kernel("lr", fused))


class ScheduleState(NamedTuple):
    count: Tensor  # [K]


def scale_by_schedule(schedule: Callable[[Tensor], Tensor]) -> Transform:
    """u = s(t)·g with t = 1, 2, … the per-member update index (a multiplicative factor,
    no sign: chain it before :func:`scale_by_lr`)."""

    copies: dict[tuple[Any, Any], Any] = {}  # the schedule per device and dtype (pure init)

    def on(like: Tensor) -> Any:
        key = (like.device, like.dtype)
        if key not in copies:
            copies[key] = _lr_to(schedule, like)
        return copies[key]

    def init(params: Params) -> ScheduleState:
        like = next(iter(params.values()))
        on(like)
        return ScheduleState(torch.zeros(member_count(params), device=like.device,
                                         dtype=like.dtype))

    def update(grads: Params, state: ScheduleState, params: Params | None = None):
        factor = on(state.count)(state.count.add_(1))
        return {k: g * per_member(factor, g) for k, g in grads.items()}, state

    def fused(x: Params, scale: Tensor | None, state: ScheduleState, params: Params | None,
              out: Out):
        factor = on(state.count)(state.count.add_(1))
        factor = factor + torch.zeros_like(state.count)  # a [K] tensor even for a float
        return x, factor if scale is None else scale * factor, state

    return Transform(init, update, kernel=Kernel("scale", fused))


def find_lr_state(opt_state: Any) -> LrState | None:
    """The :class:`LrState` inside an optimizer state (a nest of tuples), or None."""
    if isinstance(opt_state, LrState):
        return opt_state
    if isinstance(opt_state, tuple):
        for s in opt_state:
            found = find_lr_state(s)
            if found is not None:
                return found
    return None


def find_lr_states(opt_state: Any) -> list[LrState]:
    """Every :class:`LrState` inside an optimizer state, in order."""
    if isinstance(opt_state, LrState):
        return [opt_state]
    if isinstance(opt_state, tuple):
        return [found for s in opt_state for found in find_lr_states(s)]
    return []


def current_lr(opt_state: Any) -> Tensor | None:
    """Each member's learning rate at its last update, s·α(t) ([K]; α(1) before any), or
    None when the optimizer has no :func:`scale_by_lr`."""
    state = find_lr_state(opt_state)
    if state is None:
        return None
    lr = state.lr
    alpha = lr(torch.clamp(state.count, min=1)) if callable(lr) else lr
    return state.scale * alpha


class EmptyState(NamedTuple):
    pass


def add_decayed_weights(weight_decay: Hyper, mask: Params | None = None) -> Transform:
    """Decoupled weight decay (AdamW): u = g + λ_wd·θ, on the entries where ``mask`` is 1.

    Placed before :func:`scale_by_lr` in a chain, the step becomes
    θ := θ − α·(g + λ_wd·θ) = (1 − αλ_wd)·θ − α·g. ``mask`` maps names to 0/1
    tensors broadcastable against the parameters (e.g.
    :meth:`~netrx.population.population.Population.weight_mask`: weights, not biases or
    batch-norm γ/β).
    """

    wd_on = OnDevice(weight_decay)
    mask_on = None if mask is None else {k: OnDevice(m) for k, m in mask.items()}

    def init(params: Params) -> EmptyState:
        like = next(iter(params.values()))
        wd_on(like)
        for m in (mask_on or {}).values():
            m(like)
        return EmptyState()

    def update(grads: Params, state: EmptyState, params: Params | None = None):
        if params is None:
            raise ValueError("add_decayed_weights needs the params in update(grads, state, params)")
        like = next(iter(params.values()))
        weight_decay = wd_on(like)
        mask = None if mask_on is None else {k: m(like) for k, m in mask_on.items()}
        out = {}
        for k, g in grads.items():
            decay = params[k] * per_member(weight_decay, g)
            if mask is not None:
                decay = decay * mask[k]
            out[k] = g + decay
        return out, state

    coefs: dict[tuple[Any, ...], Tensor] = {}  # λ_wd ⊙ mask per member, built once

    def coef(k: str, like: Tensor) -> Hyper:
        weight_decay = wd_on(like)
        if mask_on is None or k not in mask_on:
            return per_member(weight_decay, like)
        m = mask_on[k](like)
        if not isinstance(weight_decay, Tensor):
            return m * weight_decay if weight_decay != 1.0 else m
        key = (k, like.shape, like.dtype, like.device)
        if key not in coefs:
            coefs[key] = (per_member(weight_decay, like) * m).expand(like.shape).contiguous()
        return coefs[key]

    def fused(x: Params, scale: Tensor | None, state: EmptyState, params: Params | None,
              out: Out):
        if params is None:
            raise ValueError("add_decayed_weights needs the params in update(grads, state, params)")
        result = {}
        for k, v in x.items():
            u, p = out(k, v), params[k]
            if scale is not None:  # the value so far, scale ⊙ x, into u
                torch.mul(v, per_member(scale, v), out=u)
                v = u
            c = coef(k, p)
            if isinstance(c, Tensor):
                result[k] = torch.addcmul(v, p, c, out=u)
            else:
                result[k] = torch.add(v, p, alpha=c, out=u)
        return result, None, state

    return Transform(init, update, kernel=Kernel("decay", fused))


class TraceState(NamedTuple):
    v: Params  # the velocity


def trace(decay: Hyper, nesterov: bool = False) -> Transform:
    """Heavy-ball velocity (CS231n / PyTorch form): v = ρ·v + g, u = v; with ``nesterov``,
    u = g + ρ·v (the gradient "looked ahead" along the velocity, Sutskever's form of
    Nesterov momentum).

    This is the notes' momentum v = β·v + (1 − β)·g up to the factor 1 − β: with ρ = β both
    start at v = 0, so v_heavy = v_notes/(1 − β) at every step and heavy ball with step α
    follows exactly the path of the notes' momentum with step α/(1 − β) (10× for β = 0.9).
    """

    decay_on = OnDevice(decay)

    def init(params: Params) -> TraceState:
        decay_on(next(iter(params.values())))
        return TraceState(tree_zeros_like(params))

    def update(grads: Params, state: TraceState, params: Params | None = None):
        decay = decay_on(next(iter(grads.values())))
        out = {}
        for k, g in grads.items():
            rho = per_member(decay, g)
            v = state.v[k].mul_(rho).add_(g)
            out[k] = g + rho * v if nesterov else v
        return out, state

    def fused(x: Params, scale: Tensor | None, state: TraceState, params: Params | None,
              out: Out):
        decay = decay_on(next(iter(x.values())))
        result = {}
        for k, g in x.items():
            rho, v = per_member(decay, g), state.v[k]
            add = torch.addcmul if isinstance(rho, Tensor) else _add_scaled
            add(g, v, rho, out=v)  # v := g + ρ·v
            result[k] = add(g, v, rho, out=out(k, g)) if nesterov else v
        return result, None, state

    return Transform(init, update, kernel=Kernel("direction", fused))


def _add_scaled(a: Tensor, b: Tensor, c: float, *, out: Tensor) -> Tensor:
    """a + c·b for a float c, into ``out``."""
    return torch.add(a, b, alpha=c, out=out)


def global_norm(grads: Params) -> Tensor:
    """Each member's norm over all of its parameters: ‖g_k‖ = √(Σ_names Σ_entries g²), [K]."""
    sq = None
    for g in grads.values():
        s = g.reshape(g.shape[0], -1).square().sum(dim=1)
        sq = s if sq is None else sq + s
    return sq.sqrt()


def clip_by_global_norm(max_norm: Hyper) -> Transform:
    """Per member, rescale the whole gradient when it is too long:
    u = g·min(1, c/‖g‖) with ‖g‖ over all of that member's parameters (a member's clipping
    never depends on another member)."""

    max_norm_on = OnDevice(max_norm)

    def init(params: Params) -> EmptyState:
        max_norm_on(next(iter(params.values())))
        return EmptyState()

    def update(grads: Params, state: EmptyState, params: Params | None = None):
        max_norm = max_norm_on(next(iter(grads.values())))
        norm = global_norm(grads)
        factor = torch.clamp(max_norm / torch.clamp(norm, min=torch.finfo(norm.dtype).tiny),
                             max=1.0)
        return {k: g * per_member(factor, g) for k, g in grads.items()}, state

    return Transform(init, update)


def clip_by_value(clip: Hyper) -> Transform:
    """Clip every coordinate: u = min(max(g, −c), c)."""

    clip_on = OnDevice(clip)

    def init(params: Params) -> EmptyState:
        clip_on(next(iter(params.values())))
        return EmptyState()

    def update(grads: Params, state: EmptyState, params: Params | None = None):
        clip = clip_on(next(iter(grads.values())))
        out = {}
        for k, g in grads.items():
            c = per_member(clip, g)
            out[k] = torch.clamp(g, -c, c) if isinstance(c, Tensor) else g.clamp(-c, c)
        return out, state

    return Transform(init, update)
