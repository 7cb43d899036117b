"""The one assembly: a :class:`~netrx.config.RunConfig` and prepared data become the pieces
:func:`netrx.fit` takes, and :func:`train` fits them. ``netrx train``, ``netrx improve``,
the tuner's slots, transfer's stage search, the gradient check and the scikit-learn
estimators all come through here, so a new regularizer or a fix to the loss is made once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netrx.config import RunConfig
from netrx.errors import ConfigError
from netrx.experiment.build import (
    augment_from_config,
    build_population,
    callbacks_from_config,
    constraints_from_config,
    load_transfer_source,
    loss_from_config,
    optimizer_from_config,
    penalty_from_config,
)
from netrx.experiment.prepared import Prepared
from netrx.optim import LBFGS
from netrx.population import Population
from netrx.train import History, fit
from netrx.train.callbacks import Callback
from netrx.train.full_batch import fit_full_batch


@dataclass
class Pieces:
    """What one fit of a config is made of: the population, the optimizer (and ``lr``,
    which reads each member's current rate), the loss, the penalty, the augmentation, the
    constraint steps after each update and the config's callbacks (plateau, early stopping,
    TensorBoard, Polyak averaging)."""

    population: Population
    optimizer: Any
    lr: Any
    loss: Any
    penalty: Any = None
    augment: Any = None
    constraints: list[Callback] = field(default_factory=list)
    callbacks: list[Callback] = field(default_factory=list)

    def fit_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`netrx.fit` these pieces fill."""
        return {"optimizer": self.optimizer, "lr": self.lr, "loss": self.loss,
                "penalty": self.penalty, "augment": self.augment}

    def find(self, kind: type) -> Any:
        """The config callback of type ``kind`` (e.g. PolyakAveraging), or None."""
        return next((cb for cb in self.callbacks if isinstance(cb, kind)), None)


def assemble(cfg: RunConfig, prepared: Prepared, *,
             population: Population | None = None) -> Pieces:
    """The pieces of ``cfg`` for ``prepared`` data. ``population`` reuses a population
    (a tuner's slots rebuild the optimizer and regularizers around theirs); by default a
    new one is built, with a transfer source's weights loaded into it."""
    pop = population
    if pop is None:
        pop = build_population(cfg, prepared.input_shape, prepared.n_outputs)
        if cfg.transfer.init_from is not None:  # source weights, new head, frozen statistics
            load_transfer_source(cfg, pop)
    n_train = prepared.n_train
    optimizer, lr = optimizer_from_config(cfg, pop, n_train)
    return Pieces(population=pop, optimizer=optimizer, lr=lr,
                  loss=loss_from_config(cfg, prepared.objective, pop),
                  penalty=penalty_from_config(cfg, n_train, pop),
                  augment=augment_from_config(cfg, prepared.input_shape, pop),
                  constraints=constraints_from_config(cfg, n_train, pop, lr),
                  callbacks=callbacks_from_config(cfg))


def train(cfg: RunConfig, prepared: Prepared, *, pieces: Pieces | None = None,
          callbacks: Sequence[Callback] = (), progress: bool = False,
          resume: Path | None = None) -> tuple[Pieces, History]:
    """Assemble ``cfg`` (unless ``pieces`` are given) and fit it on the training split,
    watching the dev split when it has rows; ``callbacks`` come after the config's own.
    L-BFGS fits full-batch. Returns the pieces (the trained population among them) and
    the history."""
    pieces = pieces if pieces is not None else assemble(cfg, prepared)
    splits = prepared.splits
    fit_fn = fit_full_batch if isinstance(pieces.optimizer, LBFGS) else fit
    if cfg.train.compile and fit_fn is fit_full_batch:
        raise ConfigError("train.compile compiles the mini-batch step; L-BFGS fits full-batch "
                          "in eager mode: drop --compile or choose another optimizer")
    history = fit_fn(pieces.population, splits.train,
                     splits.dev if len(splits.dev.y) else None,
                     epochs=cfg.train.epochs, batch_size=cfg.train.batch_size,
                     callbacks=[*pieces.constraints, *pieces.callbacks, *callbacks],
                     progress=progress, task=prepared.task, resume=resume,
                     **pieces.fit_kwargs(),
                     **({"compile": True} if cfg.train.compile else {}))
    return pieces, history
