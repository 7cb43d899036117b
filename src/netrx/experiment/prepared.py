"""Data ready to train on: load, split (seeded, stratified) and fit the preprocessing on the
training set only, so that dev and test pass through what train taught it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from netrx.config import RunConfig
from netrx.data import Dataset, Preprocessor, Splits, Standardizer, load, split
from netrx.train.losses import Objective, objective_for


@dataclass
class Prepared:
    """The dataset's metadata, the fitted preprocessing (anything with ``input_shape_``:
    a :class:`~netrx.data.Preprocessor` or a :class:`~netrx.data.Standardizer`), the
    transformed train/dev/test parts and the objective. It is what the assembly reads:
    :func:`netrx.experiment.assemble.assemble` needs nothing else.

    ``target_scaler`` (regression): the parts' y are standardized, y := (y − μ_y)/σ_y
    with the training set's μ_y and σ_y, so a regression error (MSE) is a fraction of the
    target's training variance, MSE/σ_y² ≈ 1 − R², whatever the target's units."""

    dataset: Dataset
    preprocessor: Any
    splits: Splits
    objective: Objective
    target_scaler: Standardizer | None = None

    def to_target_units(self, values: Any) -> np.ndarray:
        """Standardized regression values (predictions or targets) in the target's units:
        y = μ_y + σ_y·z (unchanged without a target scaler)."""
        z = np.asarray(values, dtype=np.float64)
        if self.target_scaler is None:
            return z
        return self.target_scaler.inverse_transform(z.reshape(-1, 1)).reshape(z.shape)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one transformed example."""
        return tuple(int(s) for s in self.preprocessor.input_shape_)

    @property
    def task(self) -> str:
        return self.dataset.task

    @property
    def n_outputs(self) -> int:
        """Output units of the network: the objective's for the dataset's classes."""
        return self.objective.n_outputs(self.dataset.n_classes)

    @property
    def n_train(self) -> int:
        """m, the number of training examples (what L2 / L1 divide by)."""
        return len(self.splits.train.y)


def prepare(cfg: RunConfig) -> Prepared:
    """Load, split (seeded, stratified) and fit the preprocessing on the training set."""
    d = cfg.data
    ds = load(d.dataset, target=d.target, task=d.task, drop=d.drop, features=d.features)
    splits = split(ds, dev=cfg.data.dev, test=cfg.data.test, seed=cfg.seed)
    pre = Preprocessor(impute=cfg.data.impute).fit(splits.train.X, ds.columns, ds.categorical)
    for part in (splits.train, splits.dev, splits.test):
        part.X = pre.transform(part.X) if len(part.X) else part.X
    scaler = None
    if ds.task == "regression" and cfg.data.scale_target:
        scaler = Standardizer().fit(np.asarray(splits.train.y, np.float64).reshape(-1, 1))
        for part in (splits.train, splits.dev, splits.test):
            part.y = scaler.transform(np.asarray(part.y, np.float64).reshape(-1, 1))[:, 0] \
                if len(part.y) else part.y
    objective = objective_for(cfg.train.loss, ds.task, ds.n_classes)
    return Prepared(ds, pre, splits, objective, scaler)
