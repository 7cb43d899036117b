"""Evaluating a trained population on a split of its data: the split as tensors on the
population's device, and the one look at the test set for the chosen predictor — one
member, or the mean of several members' predictions, ŷ = (1/|S|) Σ_{k∈S} ŷ_k — with the
test confusion matrix (counts[true, predicted]) for classifiers. ``netrx train``
(:mod:`netrx.experiment`) and ``netrx improve`` (:mod:`netrx.recipe_final`) both use it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from netrx.ensemble import average_outputs, ensemble_error
from netrx.population import Population
from netrx.train.losses import target_dtype

if TYPE_CHECKING:
    from netrx.experiment import Prepared


def as_tensors(part: Any, pop: Population, prepared: Prepared) -> tuple[torch.Tensor, torch.Tensor]:
    """``part.X`` and ``part.y`` as tensors on the population's device (targets in the
    objective's dtype)."""
    X = torch.as_tensor(np.asarray(part.X)).to(pop.device, pop.dtype)
    y = torch.as_tensor(np.asarray(part.y)).to(pop.device, target_dtype(prepared.objective))
    return X, y


@torch.no_grad()
def ensemble_split_error(pop: Population, prepared: Prepared, part: Any,
                         members: list[int]) -> float:
    """Error (1 − accuracy, or MSE) of the mean prediction of ``members`` on ``part``."""
    X, y = as_tensors(part, pop, prepared)
    return ensemble_error(average_outputs(pop, X, prepared.objective, members), y,
                          prepared.objective)


@torch.no_grad()
def evaluate_test(pop: Population, prepared: Prepared, members: list[int]) -> dict[str, Any]:
    """The one look at the test set: the error (and loss, confusion matrix) of the chosen
    predictor: one member, or the average of ``members``' probabilities (no loss then)."""
    obj = prepared.objective
    X, y = as_tensors(prepared.splits.test, pop, prepared)
    out: dict[str, Any] = {"loss": None, "confusion": None}
    if len(members) == 1:
        z = pop.predict(X)[members[0]:members[0] + 1]
        yk = y.unsqueeze(0)
        out["loss"] = float(obj.loss(z, yk)[0])
        out["error"] = float(obj.error(z, yk)[0])
        probs = None if prepared.dataset.task != "classification" else z[0]
    else:
        probs = average_outputs(pop, X, obj, members)
        out["error"] = ensemble_error(probs, y, obj)
    if prepared.dataset.task == "classification" and probs is not None:
        if obj.name == "bce" and probs.shape[-1] == 1:
            pred = (probs.squeeze(-1) > 0).long()
        else:
            pred = probs.argmax(-1)
        n = max(prepared.dataset.n_classes, 2)
        counts = torch.bincount(y.long() * n + pred, minlength=n * n).view(n, n)
        out["confusion"] = counts.cpu().tolist()
    return out
