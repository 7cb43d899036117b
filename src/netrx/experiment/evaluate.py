"""Evaluating a trained population on its data: the member table (eval-mode train and dev
loss and error per member, with each member's hyperparameters), the error of an ensemble
on a split, and the one look at the test set for the chosen predictor — one member, or
the mean of several members' predictions, ŷ = (1/|S|) Σ_{k∈S} ŷ_k — with the test
confusion matrix (counts[true, predicted]) and predicted probabilities for classifiers;
and :class:`RunResult`, what a finished run holds. ``netrx train``
(:mod:`netrx.experiment.execute`) and ``netrx improve`` (:mod:`netrx.recipe.final`) both
use it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netrx.config import MEMBER_KEYS, RunConfig, get_path, member_values
from netrx.ensemble import average_outputs, ensemble_error
from netrx.experiment.prepared import Prepared
from netrx.population import Population
from netrx.train import History, evaluate
from netrx.train.losses import target_dtype


@dataclass
class RunResult:
    """A finished run: its config, data, history, population, the member chosen on dev,
    the member table, the test metrics of the chosen predictor and what else the summary
    holds (``extras``: the ensemble, the confusion matrix, ...)."""

    config: RunConfig
    prepared: Prepared
    history: History
    population: Population
    best: int
    members: list[dict[str, Any]]
    test: dict[str, float]
    seconds: float
    run_dir: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    #: the chosen predictor's test predictions and targets (regression: in target units;
    #: classification: class names and p_<class> probabilities), test_predictions.csv
    test_predictions: dict[str, np.ndarray] | None = None

    def summary(self) -> dict[str, Any]:
        ds = self.prepared.dataset
        status = self.history.final_status()
        return {
            "name": self.config.name,
            "dataset": ds.name,
            "task": ds.task,
            "classes": list(ds.classes),
            "members": self.config.members,
            "best_member": self.best,
            "best": {**self.members[self.best], **{f"test_{k}": v for k, v in self.test.items()}},
            "diverged_members": [k for k, s in enumerate(status) if s == "diverged"],
            "stopped_members": [k for k, s in enumerate(status) if s == "stopped"],
            "epochs_run": len(self.history.logs),
            "seconds": round(self.seconds, 3),
            "device": str(self.population.device),
            "member_table": self.members,
            "data": {"n_train": len(self.prepared.splits.train.y),
                     "n_dev": len(self.prepared.splits.dev.y),
                     "n_test": len(self.prepared.splits.test.y),
                     "input_shape": list(self.prepared.input_shape)},
            **self.extras,
            "versions": _versions(),
        }


def _versions() -> dict[str, str]:
    import netrx

    return {"netrx": netrx.__version__, "torch": torch.__version__}


def member_errors(pop: Population, prepared: Prepared,
                  history: History | None = None) -> list[dict[str, Any]]:
    """Eval-mode loss and error per member on train and dev (dev when it has rows): one row
    {member, seed, status, train_loss, train_error, dev_loss, dev_error} per member, None
    for a diverged member or a value that is not finite."""
    status = (history.final_status() if history is not None else []) or \
        ["training"] * pop.members
    cols: dict[str, np.ndarray] = {}
    for name, part in (("train", prepared.splits.train), ("dev", prepared.splits.dev)):
        if len(part.y):
            loss, err = evaluate(pop, *as_tensors(part, pop, prepared), prepared.objective)
            cols[f"{name}_loss"] = loss.double().cpu().numpy()
            cols[f"{name}_error"] = err.double().cpu().numpy()
    rows = []
    for k in range(pop.members):
        row: dict[str, Any] = {"member": k, "seed": pop.seeds[k], "status": status[k]}
        for key, values in cols.items():
            v = float(values[k])
            row[key] = v if math.isfinite(v) and status[k] != "diverged" else None
        rows.append(row)
    return rows


def member_table(cfg: RunConfig, pop: Population,
                 rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` (:func:`member_errors`) with each member's hyperparameters: its learning
    rate, dropout, every other member-wise key that differs between members, and the
    fraction of its weights that are exactly 0 (the proximal L1 step makes them)."""
    lr = member_values(cfg.optimizer.lr, pop.members)
    dropout = member_values(cfg.model.dropout, pop.members)
    varied = {short: v for short, path in MEMBER_KEYS.items() if short not in ("lr", "dropout")
              and isinstance(v := get_path(cfg, path), list)}
    with torch.no_grad():
        zeros = (pop.flat[:, pop.weight_mask()[0].bool()] == 0).double().mean(1).cpu().numpy()
    out = []
    for row in rows:
        k = row["member"]
        ids = {key: row[key] for key in ("member", "seed", "status")}
        hyper = {"lr": lr[k], "dropout": dropout[k],
                 **{short: float(v[k]) for short, v in varied.items()},
                 "zero_weights": float(zeros[k])}
        metrics = {key: v for key, v in row.items() if key not in ids}
        out.append({**ids, **hyper, **metrics})
    return out


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


#: what the one look at the test set reports (rmse, mae, r2: regression, target units)
TEST_METRICS = ("loss", "error", "rmse", "mae", "r2")


def regression_metrics(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """In the target's units: RMSE = √(1/n Σ (ŷ − y)²), MAE = 1/n Σ |ŷ − y| and
    R² = 1 − Σ (ŷ − y)² / Σ (y − ȳ)² (ȳ the mean of these y; 0 for predicting it)."""
    pred, y = np.asarray(pred, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    res = float(((pred - y) ** 2).sum())
    tot = float(((y - y.mean()) ** 2).sum())
    return {"rmse": math.sqrt(res / len(y)), "mae": float(np.abs(pred - y).mean()),
            "r2": 1.0 - res / tot if tot > 0 else float("nan")}


@torch.no_grad()
def evaluate_test(pop: Population, prepared: Prepared, members: list[int]) -> dict[str, Any]:
    """The one look at the test set: the error (and loss, confusion matrix) of the chosen
    predictor: one member, or the average of ``members``' probabilities (no loss then).

    ``predictions`` holds its test predictions as columns: regression ``y`` and
    ``prediction`` in target units; classification ``y`` and ``prediction`` (class names)
    and ``p_<class>``, the predicted probability of each class (softmax, or σ(z) and
    1 − σ(z) for one logit; the ensemble's mean), also as ``probabilities`` [n, C] (float32)."""
    obj = prepared.objective
    X, y = as_tensors(prepared.splits.test, pop, prepared)
    out: dict[str, Any] = {"loss": None, "confusion": None}
    if len(members) == 1:
        z = pop.predict(X)[members[0]:members[0] + 1]
        yk = y.unsqueeze(0)
        out["loss"] = float(obj.loss(z, yk)[0])
        out["error"] = float(obj.error(z, yk)[0])
        probs = z[0]
    else:
        probs = average_outputs(pop, X, obj, members)
        out["error"] = ensemble_error(probs, y, obj)
    if prepared.task == "regression":
        pred = prepared.to_target_units(probs.squeeze(-1).cpu())
        truth = prepared.to_target_units(y.cpu())
        out.update(regression_metrics(pred, truth))
        out["predictions"] = {"y": truth, "prediction": pred}
    if prepared.dataset.task == "classification" and probs is not None:
        if obj.name == "bce" and probs.shape[-1] == 1:
            pred = (probs.squeeze(-1) > 0).long()
        else:
            pred = probs.argmax(-1)
        n = max(prepared.dataset.n_classes, 2)
        counts = torch.bincount(y.long() * n + pred, minlength=n * n).view(n, n)
        out["confusion"] = counts.cpu().tolist()
        proba = as_probabilities(probs, obj.name) if len(members) == 1 else probs
        out["probabilities"] = proba.float().cpu().numpy()
        out["predictions"] = class_predictions(y.long().cpu().numpy(), pred.cpu().numpy(),
                                               out["probabilities"], prepared.dataset.classes)
    return out


def as_probabilities(z: torch.Tensor, objective: str) -> torch.Tensor:
    """A classifier's logits [..., C] as probabilities: softmax, or [1 − σ(z), σ(z)] for
    one logit (``bce``)."""
    if objective == "bce":
        p1 = torch.sigmoid(z.squeeze(-1))
        return torch.stack([1 - p1, p1], dim=-1)
    return torch.softmax(z, dim=-1)


def class_predictions(y: np.ndarray, pred: np.ndarray, probs: np.ndarray,
                      classes: Any) -> dict[str, np.ndarray]:
    """The columns of a classifier's ``test_predictions.csv``: ``y`` and ``prediction`` as
    class names, then ``p_<class>`` for each class."""
    names = np.asarray([str(c) for c in classes] or
                       [str(i) for i in range(probs.shape[1])], dtype=object)
    columns = {"y": names[y], "prediction": names[pred]}
    columns.update({f"p_{c}": probs[:, i] for i, c in enumerate(names)})
    return columns
