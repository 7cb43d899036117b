"""Penalties added to the cost, and decoupled weight decay.

With m training examples the regularised cost of the notes is::

    J = 1/m Σ_i L(ŷ⁽ⁱ⁾, y⁽ⁱ⁾) + λ/2m Σ_l ‖W[l]‖²_F          (L2, "weight decay")
    J = 1/m Σ_i L(ŷ⁽ⁱ⁾, y⁽ⁱ⁾) + λ/m  Σ_l ‖W[l]‖₁            (L1, sparse W)

‖W‖²_F is the Frobenius norm, the sum of the squares of every entry. Only the
weights are penalised (tensors of rank ≥ 2: Linear matrices, conv kernels),
never the biases nor batch norm's γ and β. Seed 004 of the notes puts 2m
under the L1 term; that is a slip: the L1 penalty is λ/m‖w‖₁ (seed 003).

A mini-batch of B examples contributes 1/B Σ_batch L + penalty, an unbiased
estimate of J whose gradient adds (λ/m)·W to dW for L2, so that plain gradient
descent becomes W := (1 − αλ/m)·W − α·dW_loss: L2 is weight decay by the factor
(1 − αλ/m) each step.

Every λ is a float or a [K] tensor (one value per population member); each
penalty returns a [K] tensor, member k's penalty, for ``fit(penalty=...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from netrx.errors import ConfigError
from netrx.optim.base import Hyper, Params, Transform, as_device_hyper, per_member
from netrx.optim.transforms import add_decayed_weights, current_lr

if TYPE_CHECKING:
    from netrx.config import RunConfig
    from netrx.population import Population

Penalty = Callable[[dict[str, Tensor]], Tensor]


def is_weight(p: Tensor) -> bool:
    """A stacked parameter [K, *shape] is a weight when its per-member rank is ≥ 2."""
    return p.dim() >= 3


def check_strength(name: str, value: Hyper) -> None:
    """Raise ConfigError unless ``value`` (float or [K] tensor) is finite and ≥ 0."""
    values = value.detach().flatten().tolist() if isinstance(value, Tensor) else [float(value)]
    for v in values:
        if not v >= 0 or v == float("inf"):
            raise ConfigError(f"{name}={v!r} must be a finite value ≥ 0 (0 turns it off)")


def _per_member(lam: Hyper, like: Tensor) -> Hyper:
    """λ as a float, or a [K] tensor on ``like``'s device and dtype."""
    if isinstance(lam, Tensor):
        if lam.dim() > 1:
            raise ConfigError(f"λ must be a float or one value per member, got shape "
                              f"{tuple(lam.shape)}")
        return lam.to(like.device, like.dtype)
    return float(lam)


def _check_m(m: int) -> int:
    if int(m) < 1:
        raise ConfigError(f"m={m!r}: the number of training examples must be ≥ 1")
    return int(m)


def l2_penalty(lam: Hyper, m: int) -> Penalty:
    """``params -> [K]``: λ/2m Σ_l ‖W[l]‖²_F over the weights (rank ≥ 2) only.

    Its gradient with respect to W[l] is (λ/m)·W[l]; biases and batch-norm
    γ, β get none.
    """
    check_strength("l2", lam)
    m = _check_m(m)

    def penalty(params: dict[str, Tensor]) -> Tensor:
        weights = [p for p in params.values() if is_weight(p)]
        if not weights:
            raise ConfigError("l2: the model has no weight matrices to penalise")
        sq = sum(p.pow(2).flatten(1).sum(1) for p in weights)
        return _per_member(lam, sq) / (2 * m) * sq

    return penalty


def l1_penalty(lam: Hyper, m: int) -> Penalty:
    """``params -> [K]``: λ/m Σ_l ‖W[l]‖₁ = λ/m Σ |w| over the weights only.

    Its (sub)gradient is (λ/m)·sign(w), 0 at w = 0. Plain subgradient steps make
    weights hover around 0 rather than reach it; :class:`netrx.constraints.ProximalL1`
    gives exact zeros.
    """
    check_strength("l1", lam)
    m = _check_m(m)

    def penalty(params: dict[str, Tensor]) -> Tensor:
        weights = [p for p in params.values() if is_weight(p)]
        if not weights:
            raise ConfigError("l1: the model has no weight matrices to penalise")
        total = sum(p.abs().flatten(1).sum(1) for p in weights)
        return _per_member(lam, total) / m * total

    return penalty


def combine(penalties: Sequence[Penalty]) -> Penalty | None:
    """The sum of several penalties (``None`` if there are none)."""
    penalties = list(penalties)
    if not penalties:
        return None
    if len(penalties) == 1:
        return penalties[0]
    return lambda params: sum(p(params) for p in penalties)


def member_hyper(value: float | list[float] | None, pop: Population) -> Hyper | None:
    """A config value (one number or one per member) as a float or a [K] tensor;
    ``None`` when it is absent or zero for every member."""
    if value is None:
        return None
    if isinstance(value, list):
        if not any(v != 0 for v in value):
            return None
        return torch.tensor([float(v) for v in value], dtype=pop.dtype, device=pop.device)
    return float(value) if float(value) != 0 else None


def penalty_from_config(cfg: RunConfig, n_train: int, pop: Population) -> Penalty | None:
    """The penalty ``cfg.regularization`` asks for: L2 (λ/2m‖W‖²_F) plus L1 (λ/m‖W‖₁) when
    ``l1_mode`` is ``subgradient``; ``None`` if neither is on. m = ``n_train``. (The
    proximal L1 step is a callback: :func:`netrx.constraints.constraints_from_config`.)"""
    reg = cfg.regularization
    parts: list[Penalty] = []
    l2 = member_hyper(reg.l2, pop)
    if l2 is not None:
        parts.append(l2_penalty(l2, n_train))
    l1 = member_hyper(reg.l1, pop)
    if l1 is not None and reg.l1_mode == "subgradient":
        parts.append(l1_penalty(l1, n_train))
    return combine(parts)


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

