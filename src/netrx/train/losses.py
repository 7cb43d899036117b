"""Losses and error rates, computed per member: outputs [K, B, ...] -> [K].

Softmax cross-entropy: ŷ = softmax(z) with softmax(z)_j = e^{z_j} / Σ_i e^{z_i}
(seed 000 of the notes drops the exponential: a slip), and
L(ŷ, y) = −Σ_j y_j log ŷ_j, whose gradient is ∂L/∂z = ŷ − y. It is computed
from the logits z (log-softmax) for numerical stability.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from netrx.errors import ConfigError
from netrx.registry import LOSSES

__all__ = ["BCE", "CROSS_ENTROPY", "LOSSES", "MSE", "Objective", "binary_cross_entropy",
           "binary_error", "classification_error", "mean_squared_error", "objective_for",
           "smoothed_cross_entropy", "softmax_cross_entropy", "target_dtype",
           "with_label_smoothing"]


def softmax_cross_entropy(z: Tensor, y: Tensor) -> Tensor:
    """Mean over the batch of −log softmax(z)_y, per member. z: [K, B, C]; y: [K, B] int."""
    # classes in dim 1 ([K, C, B]): the same values, about 4× faster on the CPU than
    # flattening to [K·B, C] (measured in bench/population.py's profile)
    return F.cross_entropy(z.transpose(1, 2), y, reduction="none").mean(1)


def smoothed_cross_entropy(z: Tensor, y: Tensor, eps: float | Tensor) -> Tensor:
    """Cross-entropy against the smoothed target t = (1 − ε)·onehot(y) + ε/C, per member.

    L = −Σ_j t_j log ŷ_j = (1 − ε)·(−log ŷ_y) + ε·mean_j(−log ŷ_j); z: [K, B, C],
    y: [K, B]; ε a float or a [K] tensor (one per member), 0 ≤ ε < 1.
    """
    logp = torch.log_softmax(z, dim=-1)
    nll = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    uniform = -logp.mean(-1)
    if isinstance(eps, Tensor):
        eps = eps.to(z.dtype).view(-1, 1)
    return ((1 - eps) * nll + eps * uniform).mean(1)


def binary_cross_entropy(z: Tensor, y: Tensor) -> Tensor:
    """Mean of −[y log σ(z) + (1−y) log(1−σ(z))], per member. z: [K, B, 1]; y: [K, B]."""
    target = y.to(z.dtype)
    return F.binary_cross_entropy_with_logits(z.squeeze(-1), target, reduction="none").mean(1)


def mean_squared_error(z: Tensor, y: Tensor) -> Tensor:
    """Mean of (ŷ − y)², per member. z: [K, B, 1]; y: [K, B]."""
    return (z.squeeze(-1) - y.to(z.dtype)).pow(2).mean(1)


def classification_error(z: Tensor, y: Tensor) -> Tensor:
    """Fraction of argmax(z) ≠ y, per member."""
    return (z.argmax(-1) != y).to(z.dtype).mean(1)


def binary_error(z: Tensor, y: Tensor) -> Tensor:
    """Fraction of (z > 0) ≠ y, per member."""
    return ((z.squeeze(-1) > 0) != y.bool()).to(z.dtype).mean(1)


@dataclass(frozen=True)
class Objective:
    """A named loss with its error metric (``error`` = MSE for regression).

    ``train_loss``, when set, is what training minimises instead of ``loss`` (e.g.
    label-smoothed cross-entropy); ``loss`` stays the reported dev/test loss."""

    name: str
    loss: Callable[[Tensor, Tensor], Tensor]
    error: Callable[[Tensor, Tensor], Tensor]
    n_outputs: Callable[[int], int]  # from the number of classes (0 for regression)
    train_loss: Callable[[Tensor, Tensor], Tensor] | None = None

    @property
    def fit_loss(self) -> Callable[[Tensor, Tensor], Tensor]:
        """The loss that training minimises."""
        return self.train_loss or self.loss


#: the objectives that :data:`~netrx.registry.LOSSES` names (``train.loss``)
CROSS_ENTROPY = Objective("cross_entropy", softmax_cross_entropy, classification_error,
                          lambda c: c)
BCE = Objective("bce", binary_cross_entropy, binary_error, lambda c: 1)
MSE = Objective("mse", mean_squared_error, mean_squared_error, lambda c: 1)


def objective_for(loss: str, task: str, n_classes: int) -> Objective:
    """Resolve ``auto`` (cross-entropy for classification, MSE for regression) and check fit."""
    if loss == "auto":
        loss = "cross_entropy" if task == "classification" else "mse"
    LOSSES.check(loss)
    if task == "regression" and loss != "mse":
        raise ConfigError(f"loss {loss!r} is for classification; use loss 'mse' for regression")
    if task == "classification" and loss == "mse":
        raise ConfigError("loss 'mse' is for regression; use 'cross_entropy' for classes")
    if loss == "bce" and n_classes != 2:
        raise ConfigError(f"loss 'bce' needs exactly 2 classes, the data has {n_classes}; "
                          "use 'cross_entropy'")
    return LOSSES.get(loss)


def with_label_smoothing(objective: Objective, eps: float | Tensor) -> Objective:
    """``objective`` trained with label smoothing ε (float or [K]); dev/test loss unchanged."""
    values = eps.detach().flatten().tolist() if isinstance(eps, Tensor) else [float(eps)]
    if any(not 0.0 <= v < 1.0 for v in values):
        raise ConfigError(f"label_smoothing={eps!r} must be in [0, 1)")
    if objective.name != "cross_entropy":
        raise ConfigError(f"label smoothing needs the cross_entropy loss, not {objective.name!r}")
    return replace(objective, train_loss=lambda z, y: smoothed_cross_entropy(z, y, eps))


def target_dtype(objective: Objective) -> torch.dtype:
    return torch.long if objective.name == "cross_entropy" else torch.float32
