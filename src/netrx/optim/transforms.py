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
from netrx.optim.ewa import bias_correction as ewa_correction
from netrx.optim.ewa import ewa_update_


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

    return Transform(init, update)


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

    return Transform(init, update)


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


class AdamState(NamedTuple):
    count: Tensor  # [K], steps taken by each member
    mu: Params  # first-moment EWA, V_dw
    nu: Params  # second-moment EWA, S_dw
    scratch: Scratch


def scale_by_adam(b1: Hyper = 0.9, b2: Hyper = 0.999, eps: Hyper = 1e-8,
                  bias_correction: bool = True) -> Transform:
    """Adam's direction, RMSprop + momentum with bias correction::

        V = β1·V + (1 − β1)·g          S = β2·S + (1 − β2)·g²
        V̂ = V / (1 − β1ᵗ)              Ŝ = S / (1 − β2ᵗ)
        u = V̂ / (√Ŝ + ε)

    (chain with :func:`scale_by_lr` for the step −α·u). Without bias
    correction V̂ = V and Ŝ = S.
    """

    hyper = [OnDevice(h) for h in (b1, b2, eps)]

    def init(params: Params) -> AdamState:
        like = next(iter(params.values()))
        for h in hyper:
            h(like)
        count = torch.zeros(member_count(params), device=like.device, dtype=like.dtype)
        return AdamState(count, tree_zeros_like(params), tree_zeros_like(params), Scratch())

    def update(grads: Params, state: AdamState, params: Params | None = None):
        b1, b2, eps = (h(state.count) for h in hyper)
        count = state.count.add_(1)
        if bias_correction:
            c1 = ewa_correction(b1, count)  # 1 − β1ᵗ, [K]
            sqrt_c2 = ewa_correction(b2, count).sqrt_()  # √(1 − β2ᵗ)
        updates = {}
        for k, g in grads.items():
            m, v = state.mu[k], state.nu[k]
            ewa_update_(m, g, b1)
            _second_moment_(v, g, b2)
            denom = torch.sqrt(v, out=state.scratch(k, v))
            if bias_correction:
                # V̂/(√Ŝ + ε) = V / (√S·(1 − β1ᵗ)/√(1 − β2ᵗ) + ε·(1 − β1ᵗ)): the per-member
                # corrections act on the denominator only, which is divided into V in place
                denom.mul_(per_member(c1 / sqrt_c2, v)).add_(per_member(eps * c1, v))
            else:
                denom.add_(per_member(eps, v))
            updates[k] = torch.div(m, denom, out=denom)
        return updates, state

    return Transform(init, update)


def _second_moment_(s: Tensor, g: Tensor, beta: Hyper) -> Tensor:
    """In place: S := β·S + (1 − β)·g² (the EWA of the squared gradient)."""
    if isinstance(beta, Tensor):
        return s.mul_(per_member(beta, s)).addcmul_(g, g * per_member(1 - beta, g))
    return s.mul_(beta).addcmul_(g, g, value=1.0 - beta)


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

    return Transform(init, update)


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

    return Transform(init, update)


class RmsState(NamedTuple):
    nu: Params  # S, the EWA of g²
    scratch: Scratch


def scale_by_rms(beta: Hyper = 0.9, eps: Hyper = 1e-8) -> Transform:
    """RMSprop's direction: S = β·S + (1 − β)·g², u = g/(√S + ε) (S starts at 0, no bias
    correction, as in the notes and ``torch.optim.RMSprop`` with alpha = β)."""

    hyper = [OnDevice(beta), OnDevice(eps)]

    def init(params: Params) -> RmsState:
        like = next(iter(params.values()))
        for h in hyper:
            h(like)
        return RmsState(tree_zeros_like(params), Scratch())

    def update(grads: Params, state: RmsState, params: Params | None = None):
        beta, eps = (h(next(iter(grads.values()))) for h in hyper)
        out = {}
        for k, g in grads.items():
            s = _second_moment_(state.nu[k], g, beta)
            denom = torch.sqrt(s, out=state.scratch(k, s)).add_(per_member(eps, s))
            out[k] = torch.div(g, denom, out=denom)
        return out, state

    return Transform(init, update)


class AdagradState(NamedTuple):
    sum_sq: Params  # G, the running sum of g²
    scratch: Scratch


def scale_by_adagrad(eps: Hyper = 1e-10) -> Transform:
    """AdaGrad's direction: G = G + g², u = g/(√G + ε) — the step of each coordinate
    shrinks with its historical sum of squares (good on convex problems, it can stall
    on non-convex ones)."""

    eps_on = OnDevice(eps)

    def init(params: Params) -> AdagradState:
        eps_on(next(iter(params.values())))
        return AdagradState(tree_zeros_like(params), Scratch())

    def update(grads: Params, state: AdagradState, params: Params | None = None):
        eps = eps_on(next(iter(grads.values())))
        out = {}
        for k, g in grads.items():
            G = state.sum_sq[k].addcmul_(g, g)
            denom = torch.sqrt(G, out=state.scratch(k, G)).add_(per_member(eps, G))
            out[k] = torch.div(g, denom, out=denom)
        return out, state

    return Transform(init, update)


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
