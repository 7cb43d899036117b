"""The exponentially weighted average of the notes, with bias correction.

    v_0 = 0,   v_t = β·v_{t−1} + (1 − β)·θ_t,   v̂_t = v_t / (1 − βᵗ)

Unrolled, v_100 = 0.1·θ_100 + 0.1·0.9·θ_99 + 0.1·0.9²·θ_98 + … for β = 0.9: the weights
(1 − β)·β^(t−i) decay by 1/e after about 1/(1 − β) values, so v averages roughly the last
1/(1 − β) of them (10 for β = 0.9, 50 for β = 0.98). Because v_0 = 0 the first estimates are
too small (v_1 = (1 − β)·θ_1); dividing by 1 − βᵗ, the sum of the weights, removes that bias:
with β = 0.98, v̂_2 = (0.0196·θ_1 + 0.02·θ_2)/0.0396, a true weighted mean of θ_1 and θ_2.

One recurrence serves momentum (θ = the gradient), both moments of Adam and RMSprop
(g and g²), batch norm's running statistics and Polyak averaging (θ = the parameters).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from netrx.optim.base import (
    Hyper,
    OnDevice,
    Params,
    Scratch,
    Transform,
    check_hyper,
    member_count,
    per_member,
    tree_zeros_like,
)
from netrx.optim.fused import Kernel, Out


def ewa_update_(v: Tensor, x: Tensor, beta: Hyper) -> Tensor:
    """In place: v := β·v + (1 − β)·x (β a float or a [K] tensor for v of shape [K, ...])."""
    return v.lerp_(x, per_member(1 - beta, v) if isinstance(beta, Tensor) else 1.0 - beta)


def bias_correction(beta: Hyper, t: Tensor) -> Tensor:
    """1 − βᵗ per member (t a [K] tensor of step counts): the sum of the EWA's weights.

    For a float β it is computed as −expm1(t·ln β), with ln β in double precision: in float32
    1 − βᵗ cancels (1 − 0.999 comes out 1.3e-5 off), −expm1 does not (torch.optim computes it
    in double)."""
    if isinstance(beta, Tensor) or beta <= 0.0:
        return 1 - torch.pow(beta, t)  # a float β is a kernel argument: nothing uploaded
    return torch.expm1(t * math.log(beta)).neg_()


class EwaState(NamedTuple):
    count: Tensor  # [K], values averaged so far per member
    v: Params  # the running average v_t (without bias correction)
    scratch: Scratch


def ewa(beta: Hyper, bias_correction: bool = True) -> Transform:
    """Average the incoming values over time: v_t = β·v_{t−1} + (1 − β)·θ_t, output
    v̂_t = v_t/(1 − βᵗ) (or v_t without ``bias_correction``).

    As an optimizer primitive the incoming values are gradients, and ``chain(ewa(β),
    scale_by_lr(α))`` is the notes' gradient descent with momentum; fed parameters, it is
    Polyak averaging.
    """
    check_hyper("beta", beta, 0.0, 1.0, low_inclusive=True)
    correct = bias_correction

    beta_on = OnDevice(beta)

    def init(params: Params) -> EwaState:
        like = next(iter(params.values()))
        beta_on(like)
        count = torch.zeros(member_count(params), device=like.device, dtype=like.dtype)
        return EwaState(count, tree_zeros_like(params), Scratch())

    def update(values: Params, state: EwaState, params: Params | None = None):
        beta = beta_on(state.count)
        count = state.count.add_(1)
        c = _correction(beta, count) if correct else None
        out = {}
        for k, x in values.items():
            v = ewa_update_(state.v[k], x, beta)
            out[k] = torch.div(v, per_member(c, v), out=state.scratch(k, v)) if correct else v
        return out, state

    def fused(x: Params, scale: Tensor | None, state: EwaState, params: Params | None,
              out: Out):
        beta = beta_on(state.count)
        count = state.count.add_(1)
        result = {k: ewa_update_(state.v[k], g, beta) for k, g in x.items()}
        return result, 1 / _correction(beta, count) if correct else None, state

    return Transform(init, update, kernel=Kernel("direction", fused))


def _correction(beta: Hyper, count: Tensor) -> Tensor:
    return bias_correction(beta, count)
