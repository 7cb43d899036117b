"""Penalties added to the cost.

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

from torch import Tensor

from netrx.errors import ConfigError
from netrx.optim.base import Hyper, check_strength

Penalty = Callable[[dict[str, Tensor]], Tensor]


def is_weight(p: Tensor) -> bool:
    """A stacked parameter [K, *shape] is a weight when its per-member rank is ≥ 2."""
    return p.dim() >= 3


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
    weights hover around 0 rather than reach it; :class:`netrx.regularize.constraints.ProximalL1`
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
