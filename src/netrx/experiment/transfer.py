"""A transfer run's config resolved: the source run's architecture, the notes' plan for
``strategy: auto`` and the best of several stages. Loading the source's weights and the
per-layer learning-rate multipliers are built with the rest of a config's pieces
(:mod:`netrx.experiment.build`); the mechanics are in :mod:`netrx.transfer`."""

from __future__ import annotations

from collections.abc import Sequence

from netrx.config import RunConfig
from netrx.errors import ConfigError
from netrx.experiment.assemble import train
from netrx.experiment.build import build_population
from netrx.experiment.prepared import Prepared
from netrx.experiment.rundir import read_source
from netrx.transfer.layers import ARCHITECTURE_KEYS, layer_groups
from netrx.transfer.plans import TransferPlan, strategy


def resolve(cfg: RunConfig, prepared: Prepared, plan: TransferPlan | None = None) -> RunConfig:
    """The fully resolved config of a transfer run (a copy; ``cfg`` without
    ``transfer.init_from`` comes back unchanged). A run directory's architecture
    (``model.family``, ``hidden``, ...) replaces the config's. ``plan`` — or, with
    ``strategy: auto``, the plan :func:`strategy` makes for the training set (m examples,
    the model's depth) — fills the unset ``freeze``, ``stage``, ``head_lr_multiplier`` and
    ``layer_lr_decay``; a plan with several stages trains each candidate as configured
    (without regularizers) and keeps the one with the lowest mean dev error over members
    (train error when there is no dev set)."""
    if cfg.transfer.init_from is None:
        if plan is not None:
            raise ConfigError("a transfer plan needs transfer.init_from (--init-from)")
        return cfg
    cfg = cfg.model_copy(deep=True)
    source = read_source(cfg.transfer.init_from)
    if source.config is not None:
        for key in ARCHITECTURE_KEYS:
            setattr(cfg.model, key, getattr(source.config.model, key))
    t = cfg.transfer
    if plan is None and t.strategy == "auto":
        full = cfg.model_copy(deep=True)
        full.transfer.stage = None
        pop = build_population(full, prepared.input_shape, prepared.n_outputs)
        n_layers = len(layer_groups(pop.template))
        plan = strategy(len(prepared.splits.train.y), t.similarity, n_layers=n_layers,
                        n_classes=max(prepared.dataset.n_classes, 1))
    if plan is None:
        return cfg
    if t.stage is None and len(plan.stages) == 1:
        t.stage = plan.stages[0]
    elif t.stage is None and plan.stages:
        t.stage = _best_stage(cfg, prepared, plan.stages)
    if t.freeze is None:
        t.freeze = t.stage if t.stage is not None else plan.freeze
    if t.head_lr_multiplier is None:
        t.head_lr_multiplier = plan.head_lr_multiplier
    if t.layer_lr_decay is None:
        t.layer_lr_decay = plan.layer_lr_decay
    return cfg


def _best_stage(cfg: RunConfig, prepared: Prepared, stages: Sequence[int]) -> int:
    """Train a linear classifier on each stage s (layers 1…s frozen) as configured, without
    penalties, constraints, augmentation nor callbacks; the stage with the lowest mean dev
    error over members wins (ties: the deeper stage)."""
    has_dev = len(prepared.splits.dev.y) > 0
    scores = {}
    for s in stages:
        trial = cfg.model_copy(deep=True)
        trial.transfer.stage, trial.transfer.freeze = s, s
        trial.regularization = trial.regularization.model_copy(update={
            "l2": 0.0, "l1": 0.0, "max_norm": None, "label_smoothing": 0.0})
        trial.augment.preset = "none"
        trial.train = trial.train.model_copy(update={
            "early_stopping": None, "reduce_lr_on_plateau": None, "tensorboard": None,
            "ensemble": None})
        _, history = train(trial, prepared)
        scores[s] = float(history.metric("dev_error" if has_dev else "train_error")[-1].mean())
    return min(scores, key=lambda s: (scores[s], -s))
