"""Per-coordinate step sizes: AdaGrad, RMSprop and Adam. Each docstring carries the
formula it implements (``g`` the incoming gradient, ``t`` the per-member step count from 1,
``u`` the outgoing direction; chain with :func:`~netrx.optim.transforms.scale_by_lr`)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from netrx.optim.base import (
    Hyper,
    OnDevice,
    Params,
    Scratch,
    Transform,
    member_count,
    per_member,
    tree_zeros_like,
)
from netrx.optim.ewa import bias_correction as ewa_correction
from netrx.optim.ewa import ewa_update_
from netrx.optim.fused import Kernel, Out


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

    def fused(x: Params, scale: Tensor | None, state: AdamState, params: Params | None,
              out: Out):
        b1, b2, eps = (h(state.count) for h in hyper)
        count = state.count.add_(1)
        if bias_correction and _fused_adam_takes(x, state, (b1, b2, eps)):
            # torch's one-pass Adam kernel, one tensor per member (each has its own t), into a
            # zeroed buffer with α = −1: u = V̂/(√Ŝ + ε), V and S advanced in the same pass
            rows = state.scratch.rows
            for k, g in x.items():
                u = out(k, g).zero_()
                torch._fused_adam_(
                    rows("u:" + k, u), rows("g:" + k, g), rows("m:" + k, state.mu[k]),
                    rows("v:" + k, state.nu[k]), [], rows("count", count), lr=-1.0, beta1=b1,
                    beta2=b2, weight_decay=0.0, eps=eps, amsgrad=False, maximize=False)
            return {k: out(k, g) for k, g in x.items()}, None, state
        # V̂/(√Ŝ + ε) = V/(√S + ε·√(1 − β2ᵗ)) · √(1 − β2ᵗ)/(1 − β1ᵗ): the last factor per member
        factor = None
        if bias_correction:
            sqrt_c2 = ewa_correction(b2, count).sqrt_()
            factor = sqrt_c2 / ewa_correction(b1, count)
            eps = eps * sqrt_c2
        result = {}
        for k, g in x.items():
            m, v, u = state.mu[k], state.nu[k], out(k, x[k])
            ewa_update_(m, g, b1)
            _second_moment_(v, g, b2, work=u)
            torch.sqrt(v, out=u).add_(per_member(eps, u))
            result[k] = torch.div(m, u, out=u)
        return result, factor, state

    return Transform(init, update, kernel=Kernel("direction", fused))


#: devices and dtypes on which ``torch._fused_adam_`` is used (it exists on the CPU for these)
FUSED_ADAM = {"cpu": (torch.float32, torch.float64, torch.float16, torch.bfloat16)}


def _fused_adam_takes(x: Params, state: AdamState, hyper: tuple) -> bool:
    """Whether torch's fused Adam kernel can run this update: float β1, β2, ε (one value for
    every member; per-member tensors take the in-place form), contiguous tensors."""
    if not hasattr(torch, "_fused_adam_") or any(isinstance(h, Tensor) for h in hyper):
        return False
    for k, g in x.items():
        if g.dtype not in FUSED_ADAM.get(g.device.type, ()) or not (
                g.is_contiguous() and state.mu[k].is_contiguous() and state.nu[k].is_contiguous()):
            return False
    return True


def _second_moment_(s: Tensor, g: Tensor, beta: Hyper, work: Tensor | None = None) -> Tensor:
    """In place: S := β·S + (1 − β)·g² (the EWA of the squared gradient). With a [K] β and a
    ``work`` buffer (overwritten), as S := S + (1 − β)·(g² − S) in two passes."""
    if isinstance(beta, Tensor):
        if work is not None:
            return s.lerp_(torch.mul(g, g, out=work), per_member(1 - beta, s))
        return s.mul_(per_member(beta, s)).addcmul_(g, g * per_member(1 - beta, g))
    return s.mul_(beta).addcmul_(g, g, value=1.0 - beta)


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

    def fused(x: Params, scale: Tensor | None, state: RmsState, params: Params | None,
              out: Out):
        beta, eps = (h(next(iter(x.values()))) for h in hyper)
        result = {}
        for k, g in x.items():
            u = out(k, g)
            s = _second_moment_(state.nu[k], g, beta, work=u)
            torch.sqrt(s, out=u).add_(per_member(eps, s))
            result[k] = torch.div(g, u, out=u)
        return result, None, state

    return Transform(init, update, kernel=Kernel("direction", fused))


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

    def fused(x: Params, scale: Tensor | None, state: AdagradState, params: Params | None,
              out: Out):
        eps = eps_on(next(iter(x.values())))
        result = {}
        for k, g in x.items():
            u = out(k, g)
            G = state.sum_sq[k].addcmul_(g, g)
            torch.sqrt(G, out=u).add_(per_member(eps, G))
            result[k] = torch.div(g, u, out=u)
        return result, None, state

    return Transform(init, update, kernel=Kernel("direction", fused))
