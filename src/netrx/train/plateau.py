"""Reduce a member's learning rate when its monitored metric stops improving.

Per member: after more than ``patience`` epochs without an improvement of more than
``min_delta``, α := max(factor·α, min_lr), then wait again. The callback scales the
per-member factor ``s`` of the optimizer's :func:`~netrx.optim.transforms.scale_by_lr`
(u = −s·α(t)·g) in place, so it composes with any schedule: the schedule keeps its shape
and is multiplied by s.
"""

from __future__ import annotations

import numpy as np
import torch

from netrx.errors import ConfigError
from netrx.optim.transforms import find_lr_states
from netrx.train.callbacks import EpochLog, FitState, Monitor


class ReduceLROnPlateau(Monitor):
    """Per member: α := max(factor·α, min_lr) after ``patience`` epochs without improvement.

    ``min_lr`` is compared with the member's learning rate at the moment of the reduction
    (for a decaying schedule the rate may later fall below it, as the schedule says).
    """

    def __init__(self, factor: float = 0.1, patience: int = 10, *, min_lr: float = 0.0,
                 monitor: str = "dev_loss", mode: str = "min", min_delta: float = 0.0) -> None:
        super().__init__(monitor, mode, min_delta)
        if not 0.0 < float(factor) < 1.0:
            raise ConfigError(f"factor={factor!r} must be in (0, 1): the learning rate is "
                              "multiplied by it")
        if int(patience) < 0 or int(patience) != patience:
            raise ConfigError(f"patience={patience!r} must be a whole number ≥ 0")
        if float(min_lr) < 0:
            raise ConfigError(f"min_lr={min_lr!r} must be ≥ 0")
        self.factor, self.patience, self.min_lr = float(factor), int(patience), float(min_lr)
        self.wait: np.ndarray | None = None
        self.reductions: np.ndarray | None = None

    def on_fit_start(self, state: FitState) -> None:
        if not find_lr_states(state.opt_state):
            raise ConfigError("ReduceLROnPlateau needs an optimizer that ends in scale_by_lr "
                              "(every named first-order optimizer does; lbfgs does not)")
        K = state.population.members
        if self.wait is None:
            self.wait = np.zeros(K, dtype=int)
            self.reductions = np.zeros(K, dtype=int)

    def on_epoch_end(self, state: FitState, log: EpochLog) -> None:
        better = self.improved(log)
        self.wait = np.where(better, 0, self.wait + 1)
        due = (self.wait > self.patience) & np.array([s == "training" for s in log.status])
        if not due.any():
            return
        for lr_state in find_lr_states(state.opt_state):
            _reduce(lr_state, due, self.factor, self.min_lr)
        self.reductions = self.reductions + due
        self.wait = np.where(due, 0, self.wait)

    def state_dict(self) -> dict:
        d = super().state_dict()
        d["wait"] = None if self.wait is None else self.wait.tolist()
        d["reductions"] = None if self.reductions is None else self.reductions.tolist()
        return d

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.wait = None if state.get("wait") is None else np.array(state["wait"])
        self.reductions = None if state.get("reductions") is None \
            else np.array(state["reductions"])


@torch.no_grad()
def _reduce(lr_state, due: np.ndarray, factor: float, min_lr: float) -> None:
    """s := max(factor·s, min_lr/α(t)) for the members ``due`` (never raising s)."""
    scale = lr_state.scale
    alpha = lr_state.lr(torch.clamp(lr_state.count, min=1)) if callable(lr_state.lr) \
        else lr_state.lr
    alpha = torch.as_tensor(alpha, dtype=scale.dtype, device=scale.device)
    current = scale * alpha
    floor = torch.where(alpha > 0, min_lr / torch.where(alpha > 0, alpha, 1.0), scale)
    reduced = torch.minimum(scale, torch.maximum(scale * factor, floor))
    mask = torch.as_tensor(due, device=scale.device)
    scale.copy_(torch.where(mask & (current > min_lr), reduced, scale))
