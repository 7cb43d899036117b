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

from netrx.registry import PRUNERS, SAMPLERS

if TYPE_CHECKING:
    import optuna

    from netrx.tune.settings import TuneConfig


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed from any parts (stable across processes, unlike ``hash``)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def make_sampler(cfg: TuneConfig, worker_seed: int) -> optuna.samplers.BaseSampler:
    """The sampler of ``cfg.search.strategy`` (a name of :data:`~netrx.registry.SAMPLERS`).
    ``worker_seed`` differs between workers and between runs of one study (see
    :func:`derive_seed`), so a resumed study does not replay the random draws it made
    before; Sobol' keeps the study's seed and continues its one sequence from the number of
    points already drawn."""
    return SAMPLERS.get(cfg.search.strategy)(cfg, worker_seed)


def grid_sampler(cfg: TuneConfig, worker_seed: int) -> optuna.samplers.BaseSampler:
    """Every combination; numeric keys at ``grid_points`` values on their scale."""
    import optuna

    return optuna.samplers.GridSampler(cfg.space.grid(cfg.search.grid_points), seed=worker_seed)


def random_sampler(cfg: TuneConfig, worker_seed: int) -> optuna.samplers.BaseSampler:
    """Independent uniform draws on each key's scale."""
    import optuna

    return optuna.samplers.RandomSampler(seed=worker_seed)


def sobol_sampler(cfg: TuneConfig, worker_seed: int) -> optuna.samplers.BaseSampler:
    """Scrambled Sobol' points, one sequence per study (seeded by the study's seed)."""
    import optuna

    s = cfg.search
    return optuna.samplers.QMCSampler(
        qmc_type="sobol", scramble=True, seed=s.seed if s.seed is not None else cfg.run.seed,
        independent_sampler=optuna.samplers.RandomSampler(seed=worker_seed),
        warn_independent_sampling=False, warn_asynchronous_seeding=False)


def tpe_sampler(cfg: TuneConfig, worker_seed: int) -> optuna.samplers.BaseSampler:
    """Multivariate TPE with the constant liar (K trials asked at once spread out)."""
    import optuna

    return optuna.samplers.TPESampler(
        seed=worker_seed, n_startup_trials=cfg.search.startup_trials, multivariate=True,
        group=True, constant_liar=True)


def coarse_to_fine_sampler(cfg: TuneConfig, worker_seed: int) -> optuna.samplers.BaseSampler:
    """The coarse stage's sampler (``coarse_sampler``); the fine stage is enqueued."""
    return SAMPLERS.get(cfg.search.coarse_sampler)(cfg, worker_seed)


def make_pruner(cfg: TuneConfig) -> optuna.pruners.BasePruner:
    """The pruner of ``cfg.search.pruner`` (a name of :data:`~netrx.registry.PRUNERS`) on
    epochs: rungs at min_epochs·η^i."""
    return PRUNERS.get(cfg.search.pruner)(cfg)


def no_pruner(cfg: TuneConfig) -> optuna.pruners.BasePruner:
    """Every trial trains to the end."""
    import optuna

    return optuna.pruners.NopPruner()


def median_pruner(cfg: TuneConfig) -> optuna.pruners.BasePruner:
    """Stop a trial worse than the median of the others at the same epoch."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=5,
                                       n_warmup_steps=cfg.search.min_epochs - 1)


def asha_pruner(cfg: TuneConfig) -> optuna.pruners.BasePruner:
    """Asynchronous successive halving, rungs at min_epochs·η^i."""
    import optuna

    s = cfg.search
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=s.min_epochs,
                                                  reduction_factor=s.reduction_factor)


def hyperband_pruner(cfg: TuneConfig) -> optuna.pruners.BasePruner:
    """Several successive-halving brackets with different first rungs."""
    import optuna

    s = cfg.search
    return optuna.pruners.HyperbandPruner(min_resource=s.min_epochs,
                                          max_resource=cfg.max_epochs,
                                          reduction_factor=s.reduction_factor)


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
