"""Population slots: K trials of one group trained fused, each slot refilled on its own.

A *group* is the set of trials that share every key that cannot differ inside one
population (architecture, batch size, optimizer name, schedule kind, and whether each
member-wise regularizer is on at all). Inside a group the member-wise keys (learning rate,
β's, λ's, dropout rates...) become lists of K values, one per slot, and the training pieces
are built from that config by :func:`netrx.experiment.assemble.assemble`, exactly as
``netrx train`` builds a population whose members differ.

When a slot's trial ends (completed, pruned or diverged) the slot gets the next trial:
the config's lists change in row k, the pieces are rebuilt (cheap: closures and [K]
tensors), member k's parameters are drawn afresh (:meth:`Population.reinit_member`),
its rows of the optimizer state are copied from a freshly initialised state (moments 0,
step count 0, so bias correction and schedules restart), its mini-batch generator is
re-seeded and its per-member buffers are set. The other members go on untouched. ``fit``
sees stable proxies whose targets change, so the training loop itself is reused as is.

When a quarter of the slots are idle and no trial of the group is left, :meth:`SlotPopulation.
compact` moves the running members into a smaller population (parameters, buffers,
optimizer rows, generator states and random streams), so that the tail of a group does
not pay for idle members.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from netrx.config import get_path, parse_config, set_path
from netrx.experiment.assemble import assemble
from netrx.experiment.build import build_population, set_member_buffers
from netrx.optim.base import Transform
from netrx.train.callbacks import Callback, FitState
from netrx.tune.settings import TuneConfig

StateTree = Any


def slot_config(cfg: TuneConfig, values_per_slot: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The run config of K slots of one group: the group's shared values, and one list
    entry per slot for each member-wise key (one value when every slot has the same, e.g.
    a regularizer that is off: None or 0). ``functools.partial(slot_config, cfg)`` is the
    ``base`` of a :class:`SlotPopulation`."""
    first = values_per_slot[0]
    shared = {k: v for k, v in first.items() if not cfg.member_wise(k)}
    data = cfg.trial_config(shared, members=len(values_per_slot))
    member_keys = {k for v in values_per_slot for k in v if cfg.member_wise(k)}
    for key in member_keys:
        base = get_path(cfg.run, key)
        column = [v.get(key, base) for v in values_per_slot]
        set_path(data, key, column[0] if all(c == column[0] for c in column) else column)
    return data


def copy_rows(old: StateTree, fresh: StateTree, rows: Tensor, K: int) -> StateTree:
    """Optimizer state ``old`` with the rows ``rows`` ([K] bool) of every per-member tensor
    (leading dimension K) replaced by those of ``fresh`` (an ``init``-ed state of the same
    structure), in place; leaves that are not tensors come from ``fresh``."""
    if isinstance(fresh, Tensor):
        if isinstance(old, Tensor) and old.shape == fresh.shape and old.dim() >= 1 \
                and old.shape[0] == K:
            old[rows] = fresh[rows]
            return old
        return fresh
    if isinstance(fresh, dict):
        return {k: copy_rows(old[k], v, rows, K) for k, v in fresh.items()}
    if isinstance(fresh, tuple):
        if not isinstance(old, tuple) or len(old) != len(fresh):
            raise RuntimeError("the optimizer state changed its structure between two "
                               "trials of one group")
        items = [copy_rows(o, f, rows, K) for o, f in zip(old, fresh)]
        return type(fresh)(*items) if hasattr(fresh, "_fields") else tuple(items)
    return fresh


def take_rows(old: StateTree, fresh: StateTree, index: Tensor, K_old: int) -> StateTree:
    """``fresh`` (the state of a smaller population) filled with the rows ``index`` of
    every per-member tensor of ``old``."""
    if isinstance(fresh, Tensor):
        if isinstance(old, Tensor) and old.dim() >= 1 and old.shape[0] == K_old \
                and old.shape[1:] == fresh.shape[1:] and fresh.shape[0] == len(index):
            fresh.copy_(old[index])
        return fresh
    if isinstance(fresh, dict):
        return {k: take_rows(old[k], v, index, K_old) for k, v in fresh.items()}
    if isinstance(fresh, tuple):
        items = [take_rows(o, f, index, K_old) for o, f in zip(old, fresh)]
        return type(fresh)(*items) if hasattr(fresh, "_fields") else tuple(items)
    return fresh


class _Constraints(Callback):
    """Stands in ``fit`` for the current constraint callbacks (proximal L1, max-norm)."""

    def __init__(self) -> None:
        self.targets: list[Callback] = []

    def on_fit_start(self, state: FitState) -> None:
        for cb in self.targets:
            cb.on_fit_start(state)

    def on_step_end(self, state: FitState) -> None:
        for cb in self.targets:
            cb.on_step_end(state)


class SlotPopulation:
    """The population, optimizer and regularizers of K slots of one group.

    Args:
        base: builds a slot config: ``base(values_per_slot) -> dict`` (a run config with
            one list entry per slot for every member-wise key; see :func:`slot_config`).
        prepared: the data (:func:`netrx.experiment.execute.prepare`).
        values: one {key: value} per slot (idle slots repeat a neighbour's values).
        seed: the seed every trial's network is drawn from.
    """

    def __init__(self, base: Callable[[Sequence[dict[str, Any]]], dict[str, Any]],
                 prepared: Any, values: Sequence[dict[str, Any]], seed: int) -> None:
        self.base, self.prepared, self.seed = base, prepared, int(seed)
        self.values = [dict(v) for v in values]
        self.K = len(self.values)
        self.cfg = parse_config(base(self.values))
        self.pop = build_population(self.cfg, prepared.input_shape, prepared.n_outputs)
        for k in range(self.K):
            self.pop.reinit_member(k, self.seed)
        self._constraints = _Constraints()
        self._carry: StateTree | None = None
        self._generators: list[Any] | None = None
        self._build()

    # -- the pieces fit sees ---------------------------------------------------------
    def _build(self) -> None:
        pieces = assemble(self.cfg, self.prepared, population=self.pop)
        self.optimizer, self.lr = pieces.optimizer, pieces.lr
        self.loss, self.penalty, self.augment = pieces.loss, pieces.penalty, pieces.augment
        self._constraints.targets = list(pieces.constraints)

    def fit_kwargs(self) -> dict[str, Any]:
        """Arguments for :func:`netrx.fit` that always call the current pieces."""
        def init(params: dict[str, Tensor]) -> StateTree:
            carried, self._carry = self._carry, None
            return carried if carried is not None else self.optimizer.init(params)

        def update(grads, state, params=None):
            return self.optimizer.update(grads, state, params)

        objective = self.prepared.objective
        kwargs: dict[str, Any] = {
            "optimizer": Transform(init, update),
            "loss": dataclasses.replace(objective,
                                        train_loss=lambda z, y: self.loss.fit_loss(z, y)),
            "penalty": None if self.penalty is None else lambda p: self.penalty(p),
            "augment": None if self.augment is None else lambda x: self.augment(x),
            "lr": self.lr,
            "callbacks": [self._constraints],
            "batch_size": self.cfg.train.batch_size,
        }
        return kwargs

    def on_fit_start(self, state: FitState) -> None:
        """Restore carried mini-batch generator states (after :meth:`compact`) and give
        every slot its trial's seed."""
        batches = state.batches
        if self._generators is not None:
            for g, s in zip(batches.generators, self._generators):
                g.set_state(s)
            self._generators = None
        else:
            batches.generators = [torch.Generator().manual_seed(self.seed)
                                  for _ in range(self.K)]

    # -- slots -----------------------------------------------------------------------
    def refill(self, state: FitState, changes: dict[int, dict[str, Any]]) -> None:
        """Start new trials in the slots ``changes`` ({slot: values})."""
        if not changes:
            return
        for k, v in changes.items():
            self.values[k] = dict(v)
        self.cfg = parse_config(self.base(self.values))
        self._build()
        pop = self.pop
        with torch.no_grad():
            fresh = self.optimizer.init({"flat": pop.flat})
            rows = torch.zeros(self.K, dtype=torch.bool, device=pop.device)
            rows[list(changes)] = True
            state.opt_state = copy_rows(state.opt_state, fresh, rows, self.K)
            for k in changes:
                pop.reinit_member(k, self.seed)
            set_member_buffers(self.cfg, pop)
        batches = state.batches
        for k in changes:
            batches.generators[k] = torch.Generator().manual_seed(self.seed)
        self._constraints.on_fit_start(state)

    def idle(self, k: int) -> None:
        """Freeze slot k (no trial): its member stops training."""
        self.pop.stopped[k] = True

    def compact(self, state: FitState, keep: Sequence[int]) -> SlotPopulation:
        """A population of ``len(keep)`` slots carrying on the members ``keep`` exactly
        (parameters, buffers, optimizer rows, mini-batch generator states and random
        streams)."""
        new = object.__new__(SlotPopulation)
        new.base, new.prepared, new.seed = self.base, self.prepared, self.seed
        new.values = [dict(self.values[k]) for k in keep]
        new.K = len(keep)
        new.cfg = parse_config(self.base(new.values))
        new._constraints = _Constraints()
        new._carry = None
        new.pop = build_population(new.cfg, self.prepared.input_shape, self.prepared.n_outputs)
        index = torch.as_tensor(list(keep), device=self.pop.device)
        with torch.no_grad():
            new.pop.flat.copy_(self.pop.flat[index])
            for name, b in new.pop.buffers.items():
                b.copy_(self.pop.buffers[name][index])
            new.pop.seeds = [self.seed] * new.K
        new.pop.streams = self.pop.streams.take(index)  # each member's seed and step go on
        new._build()
        with torch.no_grad():
            fresh = new.optimizer.init({"flat": new.pop.flat})
            new._carry = take_rows(state.opt_state, fresh, index, self.K)
        gens = state.batches.generators
        new._generators = [copy.deepcopy(gens[k].get_state()) for k in keep]
        return new
