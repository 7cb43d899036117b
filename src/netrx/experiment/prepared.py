"""Data ready to train on: load, split (seeded, stratified) and fit the preprocessing on the
training set only, so that dev and test pass through what train taught it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netrx.config import RunConfig
from netrx.data import Dataset, Preprocessor, Splits, load, split
from netrx.train.losses import Objective, objective_for


@dataclass
class Prepared:
    """The dataset's metadata, the fitted preprocessing (anything with ``input_shape_``:
    a :class:`~netrx.data.Preprocessor` or a :class:`~netrx.data.Standardizer`), the
    transformed train/dev/test parts and the objective. It is what the assembly reads:
    :func:`netrx.experiment.assemble.assemble` needs nothing else."""

    dataset: Dataset
    preprocessor: Any
    splits: Splits
    objective: Objective

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
    ds = load(cfg.data.dataset, target=cfg.data.target, task=cfg.data.task)
    splits = split(ds, dev=cfg.data.dev, test=cfg.data.test, seed=cfg.seed)
    pre = Preprocessor(impute=cfg.data.impute).fit(splits.train.X, ds.columns, ds.categorical)
    for part in (splits.train, splits.dev, splits.test):
        part.X = pre.transform(part.X) if len(part.X) else part.X
    objective = objective_for(cfg.train.loss, ds.task, ds.n_classes)
    return Prepared(ds, pre, splits, objective)
