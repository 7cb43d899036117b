"""Strategies and pruners by name (mapped once, here, to Optuna objects).

Strategies: ``grid`` (every combination; numeric keys at ``grid_points`` values on their
scale), ``random``, ``sobol`` (scrambled Sobol' quasi-random points, one sequence shared by
every worker of a study), ``tpe`` (tree-structured Parzen estimator, multivariate, with the
constant liar so that K trials asked at once do not pile onto one point) and
``coarse_to_fine`` (its coarse stage samples with ``coarse_sampler``; its fine stage is
enqueued by :mod:`netrx.tune.coarse_to_fine`).

Pruners act on the epochs a trial has trained: ``asha`` (asynchronous successive halving:
at rung epochs min_epochs·η^i a trial goes on only if it is in the best 1/η of the trials
that reached that rung), ``hyperband`` (several such brackets with different first rungs),
``median`` (stop a trial worse than the median of the others at the same epoch), ``none``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from netrx.errors import unknown_choice

if TYPE_CHECKING:
    import optuna

    from netrx.tune.settings import TuneConfig


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed from any parts (stable across processes, unlike ``hash``)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def make_sampler(cfg: TuneConfig, worker_seed: int) -> optuna.samplers.BaseSampler:
    """The sampler of ``cfg.search.strategy``. ``worker_seed`` differs between workers and
    between runs of one study (see :func:`derive_seed`), so a resumed study does not replay
    the random draws it made before; Sobol' keeps the study's seed and continues its one
    sequence from the number of points already drawn."""
    import optuna

    s = cfg.search
    strategy = s.strategy if s.strategy != "coarse_to_fine" else s.coarse_sampler
    base_seed = s.seed if s.seed is not None else cfg.run.seed
    if strategy == "grid":
        return optuna.samplers.GridSampler(cfg.space.grid(s.grid_points), seed=worker_seed)
    if strategy == "random":
        return optuna.samplers.RandomSampler(seed=worker_seed)
    if strategy == "sobol":
        return optuna.samplers.QMCSampler(
            qmc_type="sobol", scramble=True, seed=base_seed,
            independent_sampler=optuna.samplers.RandomSampler(seed=worker_seed),
            warn_independent_sampling=False, warn_asynchronous_seeding=False)
    if strategy == "tpe":
        return optuna.samplers.TPESampler(
            seed=worker_seed, n_startup_trials=s.startup_trials, multivariate=True,
            group=True, constant_liar=True)
    raise unknown_choice("strategy", strategy, ("grid", "random", "sobol", "tpe",
                                                "coarse_to_fine"))


def make_pruner(cfg: TuneConfig) -> optuna.pruners.BasePruner:
    """The pruner of ``cfg.search.pruner`` on epochs: rungs at min_epochs·η^i."""
    import optuna

    s = cfg.search
    if s.pruner == "none":
        return optuna.pruners.NopPruner()
    if s.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=s.min_epochs - 1)
    if s.pruner == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=s.min_epochs, reduction_factor=s.reduction_factor)
    if s.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=s.min_epochs, max_resource=cfg.max_epochs,
            reduction_factor=s.reduction_factor)
    raise unknown_choice("pruner", s.pruner, ("none", "median", "asha", "hyperband"))


def decision_epochs(cfg: TuneConfig) -> set[int] | None:
    """The epochs at which the pruner can stop a trial (where it must see a report): the
    rungs min_epochs·η^i of ASHA and Hyperband, none without a pruner; ``None`` means
    every epoch (median). Reporting only there keeps storage traffic low."""
    s = cfg.search
    if s.pruner == "none":
        return set()
    if s.pruner == "median":
        return None
    out, step = set(), s.min_epochs
    while step < cfg.max_epochs:
        out.add(step)
        step *= s.reduction_factor
    return out
