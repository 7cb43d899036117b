"""Ensembles and weight averaging (the notes: "model ensembles", "snapshots",
"Polyak averaging").

- :func:`average_outputs`: average the predictions of population members —
  probabilities for classifiers (softmax, or sigmoid for one logit), values for
  regression: ŷ = (1/|S|) Σ_{k∈S} ŷ_k.
- :class:`SnapshotEnsemble`: keep the weights at the end of every learning-rate
  cycle (use with a cyclic cosine schedule) and average the snapshots'
  predictions.
- :class:`PolyakAveraging`: an EWA of the parameters along the trajectory,
  θ̄_t = β·θ̄_{t−1} + (1 − β)·θ_t with bias correction θ̄_t/(1 − βᵗ)
  (:func:`netrx.optim.ewa`), evaluated with the averaged weights and the
  batch-norm statistics recomputed for them (:func:`recompute_batch_norm`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from netrx.errors import ConfigError
from netrx.nn.layers import BatchNorm
from netrx.optim.ewa import ewa
from netrx.population.population import Population
from netrx.train.callbacks import Callback, EpochLog, FitState
from netrx.train.losses import Objective


def member_outputs(pop: Population, X: Tensor, objective: Objective) -> Tensor:
    """Per-member predictions [K, N, C]: probabilities (classification) or values."""
    z = pop.predict(X)
    if objective.name == "cross_entropy":
        return torch.softmax(z, dim=-1)
    if objective.name == "bce":
        p1 = torch.sigmoid(z.squeeze(-1))
        return torch.stack([1 - p1, p1], dim=-1)
    return z


def average_outputs(pop: Population, X: Tensor, objective: Objective,
                    members: Sequence[int] | None = None) -> Tensor:
    """ŷ = mean over the chosen members of their predictions, [N, C]."""
    out = member_outputs(pop, X, objective)
    if members is not None:
        members = list(members)
        if not members or min(members) < 0 or max(members) >= pop.members:
            raise ConfigError(f"ensemble members {members} must be among 0..{pop.members - 1}")
        out = out[members]
    return out.mean(0)


def ensemble_error(probs: Tensor, y: Tensor, objective: Objective) -> float:
    """Error of averaged predictions: 1 − accuracy, or MSE for regression."""
    if objective.name in ("cross_entropy", "bce"):
        return float((probs.argmax(-1) != y.to(probs.device)).float().mean())
    return float((probs.squeeze(-1) - y.to(probs)).pow(2).mean())


@torch.no_grad()
def recompute_batch_norm(pop: Population, X: Tensor, batch_size: int = 256) -> None:
    """Re-estimate every BatchNorm's running mean and variance for the current weights:
    reset them, then average the batch statistics of one pass over ``X`` with equal
    weights (momentum 1/i at batch i), dropout off. Needed after weights are averaged,
    because the averaged network's activations have other statistics."""
    bns = [m for m in pop.template.modules() if isinstance(m, BatchNorm)]
    if not bns:
        return
    names = [n for n in pop.buffers if n.endswith("running_mean") or n.endswith("running_var")]
    for n in names:
        pop.buffers[n].fill_(0.0 if n.endswith("running_mean") else 1.0)
    saved = [m.momentum for m in bns]
    X = X.to(pop.device, pop.dtype)
    try:
        for i, start in enumerate(range(0, X.shape[0], batch_size), 1):
            for m in bns:
                m.momentum = 1.0 / i
            pop.template.train(True)
            for m in pop.template.modules():  # dropout-like layers off, batch norm on
                if not isinstance(m, BatchNorm) and hasattr(m, "p"):
                    m.eval()
            xb = X[start:start + batch_size]
            if pop.members == 1:
                pop._call({n: p[0] for n, p in pop.params.items()},
                          {n: b[0] for n, b in pop.buffers.items()}, xb)
            else:
                pop._vmapped_shared(pop.params, pop.buffers, xb)
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom


class PolyakAveraging(Callback):
    """Polyak / EMA averaging of every member's weights, updated after each step:
    θ̄ = EWA_β(θ) with bias correction. ``start_epoch`` skips the early, far-from-
    optimum part of the trajectory."""

    def __init__(self, beta: float = 0.999, start_epoch: int = 0) -> None:
        self.beta, self.start_epoch = float(beta), int(start_epoch)
        self._t = ewa(self.beta, bias_correction=True)
        self._state = None
        self._pending: list[Tensor] | None = None
        self.averaged: Tensor | None = None

    def on_step_end(self, state: FitState) -> None:
        if state.epoch < self.start_epoch:
            return
        pop = state.population
        if self._state is None:
            self._state = self._t.init({"flat": pop.flat})
            if self._pending:  # resumed from a checkpoint
                from torch.utils._pytree import tree_flatten

                live = [x for x in tree_flatten(self._state)[0] if isinstance(x, Tensor)]
                for dst, src in zip(live, self._pending):
                    dst.copy_(src)
                self._pending = None
        out, self._state = self._t.update({"flat": pop.flat.detach()}, self._state)
        self.averaged = out["flat"]

    @contextlib.contextmanager
    def swapped_in(self, pop: Population, X_train: Tensor | None = None) -> Iterator[None]:
        """Evaluate with the averaged weights (batch norm recomputed on ``X_train``);
        the trained weights and statistics come back afterwards."""
        if self.averaged is None:
            raise ConfigError("no averaged weights yet: PolyakAveraging saw no training step")
        saved = pop.stacked_state()
        saved = {k: v.clone() for k, v in saved.items()}
        with torch.no_grad():
            pop.flat.copy_(self.averaged)
        if X_train is not None:
            recompute_batch_norm(pop, X_train)
        try:
            yield
        finally:
            pop.load_stacked_state(saved)

    def state_dict(self) -> dict:
        from torch.utils._pytree import tree_flatten

        leaves = tree_flatten(self._state)[0] if self._state is not None else []
        return {"leaves": [x for x in leaves if isinstance(x, Tensor)]}

    def load_state_dict(self, state: dict) -> None:
        self._pending = state.get("leaves")


class SnapshotEnsemble(Callback):
    """Keep each member's weights at the end of every ``cycle`` epochs (the minima a
    cyclic cosine schedule visits); :meth:`predict` averages the snapshots."""

    def __init__(self, cycle: int) -> None:
        if int(cycle) < 1:
            raise ConfigError(f"snapshot cycle {cycle!r} must be ≥ 1 epoch")
        self.cycle = int(cycle)
        self.snapshots: list[dict[str, Tensor]] = []

    def on_epoch_end(self, state: FitState, log: EpochLog) -> None:
        if state.epoch % self.cycle == 0:
            self.snapshots.append({k: v.clone() for k, v in
                                   state.population.stacked_state().items()})

    @torch.no_grad()
    def predict(self, pop: Population, X: Tensor, objective: Objective) -> Tensor:
        """Per-member average over snapshots, [K, N, C]."""
        if not self.snapshots:
            raise ConfigError("no snapshots yet: train for at least one cycle")
        saved = {k: v.clone() for k, v in pop.stacked_state().items()}
        try:
            outs = []
            for snap in self.snapshots:
                pop.load_stacked_state(snap)
                outs.append(member_outputs(pop, X, objective))
            return torch.stack(outs).mean(0)
        finally:
            pop.load_stacked_state(saved)
