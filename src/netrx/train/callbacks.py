"""Callbacks: a handful of no-op hooks, a typed epoch log, a stop flag, and state that
survives a resume. :class:`History` is a callback; early stopping and checkpoints share
the per-member :class:`Monitor` base (as in Keras)."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from netrx.errors import ConfigError
from netrx.files import write_atomic

if TYPE_CHECKING:
    from netrx.optim.base import Transform
    from netrx.population.population import Population

METRICS = ("train_loss", "train_error", "dev_loss", "dev_error")


@dataclass
class EpochLog:
    """What one epoch produced, one value per member (arrays of shape [K])."""

    epoch: int
    train_loss: np.ndarray
    train_error: np.ndarray
    dev_loss: np.ndarray | None
    dev_error: np.ndarray | None
    lr: np.ndarray | None
    status: list[str]  # "training" | "stopped" | "diverged", per member
    seconds: float = 0.0

    def get(self, metric: str) -> np.ndarray | None:
        if metric not in METRICS:
            raise ConfigError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
        return getattr(self, metric)


@dataclass
class FitState:
    """What callbacks may read (and the flag they may set) during :func:`netrx.fit`."""

    population: Population
    optimizer: Transform
    opt_state: Any
    epochs: int
    epoch: int = 0
    step: int = 0
    stop: bool = False
    #: stop at once, mid-epoch (a wall-clock deadline); ``stop`` waits for the epoch's end
    stop_now: bool = False
    #: the mini-batch source (seeded generators per member; saved by a checkpoint)
    batches: Any = None
    #: every callback of this fit, in order (a checkpoint saves their state)
    callbacks: list[Callback] = field(default_factory=list)
    #: the last update u (flat [K, P]) applied to the parameters (gradient-flow ratios)
    last_update: torch.Tensor | None = None


class Callback:
    """Base class: override the hooks you need; all are no-ops."""

    def on_fit_start(self, state: FitState) -> None: ...

    def on_step_end(self, state: FitState) -> None: ...

    def on_epoch_end(self, state: FitState, log: EpochLog) -> None: ...

    def on_fit_end(self, state: FitState) -> None: ...

    def on_fit_exit(self, state: FitState) -> None:
        """After every callback's ``on_fit_end`` (a checkpoint has saved the state the run
        reached): the last word on the weights, e.g. restoring the best epoch's."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...


class History(Callback):
    """Per-epoch metrics of every member; :func:`netrx.fit` returns it."""

    def __init__(self) -> None:
        self.logs: list[EpochLog] = []
        self.population: Population | None = None
        #: the fit ran every planned epoch (not cut short by a deadline or Ctrl-C)
        self.completed = False

    def on_fit_start(self, state: FitState) -> None:
        self.population = state.population

    def on_fit_end(self, state: FitState) -> None:
        self.completed = state.epoch >= state.epochs

    def on_epoch_end(self, state: FitState, log: EpochLog) -> None:
        self.logs.append(log)

    @property
    def members(self) -> int:
        return len(self.logs[0].train_loss) if self.logs else 0

    def metric(self, name: str) -> np.ndarray:
        """[epochs, K] array of one metric (NaN where it was not measured)."""
        rows = [log.get(name) for log in self.logs]
        K = self.members
        return np.array([r if r is not None else np.full(K, np.nan) for r in rows], dtype=float)

    def final_status(self) -> list[str]:
        """Each member's status after the fit: ``done`` (it ran every planned epoch),
        ``stopped`` (early stopping), ``diverged``, or ``training`` (the fit was cut
        short while it still trained)."""
        status = list(self.logs[-1].status) if self.logs else []
        if self.completed:
            status = ["done" if s == "training" else s for s in status]
        return status

    def best_member(self, metric: str = "dev_error") -> int:
        """The member with the lowest value of ``metric`` at its last epoch, never a diverged
        one (falls back to train metrics when there is no dev set)."""
        values = self.metric(metric)
        if np.all(np.isnan(values)):
            values = self.metric(metric.replace("dev_", "train_"))
        last = values[-1].copy()
        status = self.final_status()
        last[[s == "diverged" for s in status]] = np.inf
        last[np.isnan(last)] = np.inf
        return int(np.argmin(last))

    def rows(self) -> list[dict]:
        """Long format: one row per (epoch, member)."""
        out = []
        for log in self.logs:
            for k in range(len(log.train_loss)):
                row = {"epoch": log.epoch, "member": k}
                for m in METRICS:
                    v = log.get(m)
                    row[m] = float(v[k]) if v is not None else ""
                row["lr"] = float(log.lr[k]) if log.lr is not None else ""
                row["status"] = log.status[k]
                row["seconds"] = round(log.seconds, 4)
                out.append(row)
        return out

    def to_csv(self, path: str | os.PathLike) -> None:
        rows = self.rows()
        fields = ["epoch", "member", *METRICS, "lr", "status", "seconds"]
        write_atomic(Path(path), lambda f: _write_csv(f, fields, rows), mode="w")

    def state_dict(self) -> dict:
        return {"rows": self.rows()}

    def load_state_dict(self, state: dict) -> None:
        by_epoch: dict[int, list[dict]] = {}
        for r in state["rows"]:
            by_epoch.setdefault(int(r["epoch"]), []).append(r)
        self.logs = []
        for epoch, rows in sorted(by_epoch.items()):
            rows.sort(key=lambda r: r["member"])

            def col(m: str, rows: list[dict] = rows) -> np.ndarray | None:
                vals = [r[m] for r in rows]
                return None if any(v == "" for v in vals) else np.array(vals, dtype=float)

            self.logs.append(EpochLog(epoch, col("train_loss"), col("train_error"),
                                      col("dev_loss"), col("dev_error"), col("lr"),
                                      [r["status"] for r in rows], float(rows[0]["seconds"])))


def _write_csv(f, fields: list[str], rows: list[dict]) -> None:
    writer = csv.DictWriter(f, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)


class Monitor(Callback):
    """Tracks, per member, the best value of a metric seen so far."""

    def __init__(self, monitor: str = "dev_error", mode: str = "min", min_delta: float = 0.0):
        if monitor not in METRICS:
            raise ConfigError(f"cannot monitor {monitor!r}; choose one of {', '.join(METRICS)}")
        if mode not in ("min", "max"):
            raise ConfigError(f"mode {mode!r}: choose 'min' or 'max'")
        if min_delta < 0:
            raise ConfigError(f"min_delta={min_delta!r} must be ≥ 0")
        self.monitor, self.mode, self.min_delta = monitor, mode, float(min_delta)
        self.best: np.ndarray | None = None
        self.best_epoch: np.ndarray | None = None

    def _values(self, log: EpochLog) -> np.ndarray:
        values = log.get(self.monitor)
        if values is None:
            if self.monitor.startswith("dev_"):
                raise ConfigError(f"{type(self).__name__} monitors {self.monitor!r} but there is "
                                  "no dev set; give one or monitor a train_ metric")
            raise ConfigError(f"{self.monitor} was not measured")
        return values if self.mode == "min" else -values

    def improved(self, log: EpochLog) -> np.ndarray:
        """[K] bool: members whose metric beat their best by more than ``min_delta``."""
        values = self._values(log)
        if self.best is None:
            self.best = np.full(len(values), np.inf)
            self.best_epoch = np.full(len(values), -1)
        better = np.isfinite(values) & (values < self.best - self.min_delta)
        self.best = np.where(better, values, self.best)
        self.best_epoch = np.where(better, log.epoch, self.best_epoch)
        return better

    def state_dict(self) -> dict:
        return {"best": None if self.best is None else self.best.tolist(),
                "best_epoch": None if self.best_epoch is None else self.best_epoch.tolist()}

    def load_state_dict(self, state: dict) -> None:
        self.best = None if state["best"] is None else np.array(state["best"], dtype=float)
        self.best_epoch = None if state["best_epoch"] is None else np.array(state["best_epoch"])


class EarlyStopping(Monitor):
    """Per member: stop (freeze) a member after ``patience`` epochs without improvement
    of more than ``min_delta``; the others go on. With ``restore_best`` every member
    ends with the weights of its best epoch."""

    def __init__(self, patience: int = 10, *, monitor: str = "dev_error", mode: str = "min",
                 min_delta: float = 0.0, restore_best: bool = True) -> None:
        super().__init__(monitor, mode, min_delta)
        if int(patience) < 0:
            raise ConfigError(f"patience={patience!r} must be ≥ 0")
        self.patience, self.restore_best = int(patience), restore_best
        self.wait: np.ndarray | None = None
        self._best_state: dict[str, torch.Tensor] | None = None

    def on_fit_start(self, state: FitState) -> None:
        pop = state.population
        if self.wait is None:
            self.wait = np.zeros(pop.members, dtype=int)
        if self.restore_best and self._best_state is None:
            self._best_state = {k: v.clone() for k, v in pop.stacked_state().items()}

    def on_epoch_end(self, state: FitState, log: EpochLog) -> None:
        pop = state.population
        better = self.improved(log)
        self.wait = np.where(better, 0, self.wait + 1)
        if self.restore_best and better.any():
            mask = torch.as_tensor(better, device=pop.device)
            with torch.no_grad():
                for name, v in pop.stacked_state().items():
                    m = mask.view(-1, *[1] * (v.dim() - 1))
                    self._best_state[name].copy_(torch.where(m, v, self._best_state[name]))
        exhausted = ~better & (self.wait >= self.patience)
        if exhausted.any():
            pop.stopped |= torch.as_tensor(exhausted, device=pop.device)
            for k in np.flatnonzero(exhausted):
                if log.status[k] == "training":
                    log.status[k] = "stopped"
        if not bool(pop.active.any()):
            state.stop = True

    def on_fit_exit(self, state: FitState) -> None:
        """Restore each member's best epoch (after the final checkpoint, which keeps the
        state the run reached, so that a resume continues from a state that existed)."""
        if self.restore_best and self._best_state is not None and self.best_epoch is not None:
            pop = state.population
            ever = torch.as_tensor(self.best_epoch >= 0, device=pop.device)
            with torch.no_grad():
                for name, v in pop.stacked_state().items():
                    m = ever.view(-1, *[1] * (v.dim() - 1))
                    target = pop.params[name] if name in pop.params else pop.buffers[name]
                    target.copy_(torch.where(m, self._best_state[name], v))

    def state_dict(self) -> dict:
        d = super().state_dict()
        d["wait"] = None if self.wait is None else self.wait.tolist()
        d["best_state"] = self._best_state
        return d

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.wait = None if state.get("wait") is None else np.array(state["wait"])
        self._best_state = state.get("best_state")
