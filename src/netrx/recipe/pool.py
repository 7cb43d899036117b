"""What the final step of ``netrx improve`` trains: its configs (K fresh seeds per batch) and
the pool of members of one config, batches joined (used by the plain and the cross-fit
final)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from netrx.config import RunConfig, parse_config
from netrx.population import Population
from netrx.recipe.steps import Context, early_stopping_for, single_config
from netrx.train import History
from netrx.train.callbacks import EpochLog

#: the plain final and the refit hold at most this many batches of K seeds
MAX_BATCHES = 8
#: another batch is started while the time left holds this many times the last one
NEXT_BATCH = 1.2


def holds_another(left: float, last: float) -> bool:
    """Whether ``left`` seconds hold another batch like the last one (``last`` seconds):
    left > :data:`NEXT_BATCH`·last."""
    return left > NEXT_BATCH * last


@dataclass
class Pool:
    """The final step's members of one config: the joined population, its history, the
    per-member errors and the Polyak-averaged weights (None without a training step)."""

    name: str
    cfg: RunConfig
    pop: Population
    history: History
    rows: list[dict[str, Any]]
    averaged: torch.Tensor | None
    beta: float
    seconds: float


def final_config(ctx: Context, config: dict[str, Any], batch: int) -> RunConfig:
    """K members of ``config`` with early stopping; batch b takes seeds seed + b·K + k."""
    cfg = parse_config(config)
    return single_config(cfg, **{"members": ctx.members, "name": ctx.cfg0.name,
                                 "seed": int(ctx.cfg0.seed) + batch * ctx.members,
                                 "train.early_stopping": early_stopping_for(cfg.train.epochs)})


def concat_histories(histories: list[History]) -> History:
    """One history of the members of ``histories`` side by side; a member whose fit ended
    earlier is NaN and ``stopped`` for the later epochs."""
    out = History()
    n = max(len(h.logs) for h in histories)
    for e in range(n):
        parts = [(h.logs[e] if e < len(h.logs) else None, h) for h in histories]
        col = functools.partial(_column, parts)
        status = [s for log, h in parts
                  for s in (log.status if log is not None else ["stopped"] * h.members)]
        seconds = sum(log.seconds for log, _ in parts if log is not None)
        out.logs.append(EpochLog(e + 1, col("train_loss"), col("train_error"), col("dev_loss"),
                                 col("dev_error"), col("lr"), status, seconds))
    return out


def _column(parts: list[tuple[EpochLog | None, History]], metric: str) -> np.ndarray | None:
    if all(log is None or getattr(log, metric) is None for log, _ in parts):
        return None
    return np.concatenate([
        np.asarray(getattr(log, metric), dtype=float)
        if log is not None and getattr(log, metric) is not None
        else np.full(h.members, np.nan) for log, h in parts])
