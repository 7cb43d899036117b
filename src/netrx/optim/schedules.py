"""Learning-rate schedules: α as a pure function of time that broadcasts over per-member constants.

Time. A schedule is called with ``t``, the 1-based index of the update being made (t = 1 at
the first update, as in Adam's bias correction 1 − βᵗ). It counts either updates
(``per="step"``: n = t) or epochs (``per="epoch"``: n = ⌊(t − 1)/steps_per_epoch⌋ + 1, so
n = 1 during the first pass through the training set, as in the notes: "the first pass
through the training set is epoch 1"), with steps_per_epoch = ⌈n_train / batch_size⌉.

Every constant (α0, decay rate, γ, k, ...) may be a float or a [K] tensor, one value per
member; ``t`` may be an int, a [K] tensor of per-member step counts, or any tensor that
broadcasts against the constants (e.g. [T, 1] against [K] gives a [T, K] table).

==================  ======================================  =========================
name                α(n)                                    notes
==================  ======================================  =========================
``constant``        α0
``inverse_time``    α0 / (1 + decay_rate·n)                 seed 000, 003 (epoch)
``exponential``     α0·γⁿ  or  α0·e^(−k·n)                  0.95^epoch·α0; α0e^(−kt)
``inverse_sqrt``    α0·k / √n                               k/√epoch·α0, k/√t·α0
``step``            α0·γ^⌊(n − 1)/every⌋ (staircase)        "reduce by a factor every
                                                            few epochs"
``cosine``          α_min + (α0 − α_min)·½(1 + cos(π·min(n − 1, total)/total))
``linear_warmup``   α0·min(1, n / warmup)
``join``            piecewise in time: schedule i runs from boundary i − 1 (its clock
                    restarts at 1 there)
==================  ======================================  =========================

Seed 000 writes the first decay as 1/(1 + decay_rate·epoch·α0), with α0 inside the
denominator; the lecture (and seed 003) mean α0/(1 + decay_rate·epoch), which is what
:func:`inverse_time` computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from netrx.errors import ConfigError, unknown_choice
from netrx.registry import SCHEDULES  # every schedule by name: optimizer.schedule.name

__all__ = ["SCHEDULES", "Schedule", "build_schedule", "constant", "cosine", "exponential",
           "inverse_sqrt", "inverse_time", "join", "linear_warmup", "step"]

Hyper = float | Tensor
UNITS = ("step", "epoch")


def _as_time(t: Any, like: Tensor | None = None) -> Tensor:
    if isinstance(t, Tensor):
        return t if t.is_floating_point() else t.to(torch.get_default_dtype())
    if like is not None:
        return torch.tensor(float(t), dtype=like.dtype, device=like.device)
    return torch.tensor(float(t), dtype=torch.get_default_dtype())


def _move(v: Any, like: Tensor) -> Any:
    if isinstance(v, Tensor):
        return v.to(device=like.device, dtype=like.dtype)
    if isinstance(v, Schedule):
        return v.to(like)
    if isinstance(v, tuple):
        return tuple(_move(x, like) for x in v)
    return v


def _first_tensor(params: Mapping[str, Any]) -> Tensor | None:
    for v in params.values():
        if isinstance(v, Tensor):
            return v
    return None


@dataclass(frozen=True, eq=False)
class Schedule:
    """α(t) = ``formula(n, **params)`` with n the step or epoch number of update t (1-based)."""

    name: str
    formula: Callable[..., Tensor]
    params: Mapping[str, Any] = field(default_factory=dict)
    per: str = "epoch"
    steps_per_epoch: int | None = None

    def time(self, t: Tensor) -> Tensor:
        """n: the update index t itself, or the 1-based epoch number ⌊(t − 1)/spe⌋ + 1."""
        if self.per == "step":
            return t
        if self.steps_per_epoch is None:
            raise ConfigError(
                f"schedule {self.name!r} counts epochs: give steps_per_epoch = "
                "ceil(n_train / batch_size), or per='step'")
        return torch.floor((t - 1) / self.steps_per_epoch) + 1

    def __call__(self, t: Any) -> Tensor:
        return self.formula(self.time(_as_time(t, _first_tensor(self.params))), **self.params)

    def to(self, like: Tensor) -> Schedule:
        """The same schedule with its tensor constants on ``like``'s device and dtype."""
        return replace(self, params={k: _move(v, like) for k, v in self.params.items()})

    def with_steps_per_epoch(self, steps_per_epoch: int) -> Schedule:
        spe = _positive_int("steps_per_epoch", steps_per_epoch)
        params = {k: (tuple(s.with_steps_per_epoch(spe) for s in v) if k == "schedules" else v)
                  for k, v in self.params.items()}
        return replace(self, params=params, steps_per_epoch=spe)

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.params.items() if k != "schedules"}
        return f"Schedule({self.name}, per={self.per}, {shown})"


# -- validation ------------------------------------------------------------------------------
def _hyper(name: str, v: Any, low: float, high: float | None = None, *,
           low_inclusive: bool = False, high_inclusive: bool = False) -> Hyper:
    from netrx.optim.base import check_hyper

    if isinstance(v, (list, tuple)):
        v = torch.tensor([float(x) for x in v], dtype=torch.float64) if all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in v) else v
    if isinstance(v, bool) or not isinstance(v, (int, float, Tensor)):
        raise ConfigError(f"schedule parameter {name}={v!r} must be a number "
                          "(or a list of one number per member)")
    check_hyper(name, v, low, high, low_inclusive=low_inclusive, high_inclusive=high_inclusive)
    return v if isinstance(v, Tensor) else float(v)


def _positive_int(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 1 or v != int(v):
        raise ConfigError(f"{name}={v!r} must be a whole number ≥ 1")
    return int(v)


def _unit(per: Any) -> str:
    if per not in UNITS:
        raise unknown_choice("schedule unit per", str(per), UNITS)
    return per


def _make(name: str, formula: Callable[..., Tensor], per: str, steps_per_epoch: int | None,
          **params: Any) -> Schedule:
    spe = None if steps_per_epoch is None else _positive_int("steps_per_epoch", steps_per_epoch)
    return Schedule(name, formula, params, _unit(per), spe)


# -- the schedules -----------------------------------------------------------------------------
def _constant(n: Tensor, lr: Hyper) -> Tensor:
    return torch.ones_like(n) * lr


def constant(lr: Hyper) -> Schedule:
    """α = α0 at every step."""
    return _make("constant", _constant, "step", None, lr=_hyper("lr", lr, 0.0))


def _inverse_time(n: Tensor, lr: Hyper, decay_rate: Hyper) -> Tensor:
    return lr / (1 + decay_rate * n)


def inverse_time(lr: Hyper, decay_rate: Hyper, *, per: str = "epoch",
                 steps_per_epoch: int | None = None) -> Schedule:
    """α = α0 / (1 + decay_rate·epoch_num) (the notes; epoch_num = 1 in the first epoch).

    With α0 = 0.2 and decay_rate = 1: 0.1, 0.067, 0.05, 0.04 in epochs 1 to 4.
    """
    return _make("inverse_time", _inverse_time, per, steps_per_epoch,
                 lr=_hyper("lr", lr, 0.0),
                 decay_rate=_hyper("decay_rate", decay_rate, 0.0, low_inclusive=True))


def _exponential(n: Tensor, lr: Hyper, log_gamma: Hyper) -> Tensor:
    return lr * torch.exp(log_gamma * n)


def exponential(lr: Hyper, gamma: Hyper | None = None, *, k: Hyper | None = None,
                per: str = "epoch", steps_per_epoch: int | None = None) -> Schedule:
    """α = α0·γⁿ (e.g. 0.95^epoch·α0) or, given ``k`` instead, α = α0·e^(−k·n) (α0e^(−kt)
    with ``per="step"``). The two are one family: γ = e^(−k)."""
    if (gamma is None) == (k is None):
        raise ConfigError("exponential decay takes exactly one of gamma (α0·γⁿ) and k "
                          "(α0·e^(−k·n))")
    if gamma is not None:
        gamma = _hyper("gamma", gamma, 0.0, 1.0, high_inclusive=True)
        log_gamma = torch.log(gamma) if isinstance(gamma, Tensor) else math.log(gamma)
        return _make("exponential", _exponential, per, steps_per_epoch,
                     lr=_hyper("lr", lr, 0.0), log_gamma=log_gamma)
    k = _hyper("k", k, 0.0, low_inclusive=True)
    return _make("exponential", _exponential, per, steps_per_epoch, lr=_hyper("lr", lr, 0.0),
                 log_gamma=-k)


def _inverse_sqrt(n: Tensor, lr: Hyper, k: Hyper) -> Tensor:
    return lr * k / torch.sqrt(n)


def inverse_sqrt(lr: Hyper, k: Hyper = 1.0, *, per: str = "epoch",
                 steps_per_epoch: int | None = None) -> Schedule:
    """α = α0·k/√epoch_num, or α0·k/√t with ``per="step"`` (the notes' two forms)."""
    return _make("inverse_sqrt", _inverse_sqrt, per, steps_per_epoch,
                 lr=_hyper("lr", lr, 0.0), k=_hyper("k", k, 0.0))


def _staircase(n: Tensor, lr: Hyper, gamma: Hyper, every: Hyper) -> Tensor:
    return lr * gamma ** torch.floor((n - 1) / every)


def step(lr: Hyper, every: Hyper, gamma: Hyper = 0.5, *, per: str = "epoch",
         steps_per_epoch: int | None = None) -> Schedule:
    """Staircase decay: α = α0·γ^⌊(n − 1)/every⌋ — α0 for the first ``every`` epochs, then
    γα0, and so on ("reduce the learning rate by some factor every few epochs")."""
    return _make("step", _staircase, per, steps_per_epoch, lr=_hyper("lr", lr, 0.0),
                 gamma=_hyper("gamma", gamma, 0.0, 1.0, high_inclusive=True),
                 every=_hyper("every", every, 1.0, low_inclusive=True))


def _cosine(n: Tensor, lr: Hyper, total: Hyper, lr_min: Hyper) -> Tensor:
    # a float bound stays a kernel argument: no scalar uploaded per step
    progress = torch.minimum(n - 1, total) if isinstance(total, Tensor) \
        else torch.clamp(n - 1, max=float(total))
    return lr_min + (lr - lr_min) * 0.5 * (1 + torch.cos(math.pi * progress / total))


def cosine(lr: Hyper, total: Hyper, lr_min: Hyper = 0.0, *, per: str = "step",
           steps_per_epoch: int | None = None) -> Schedule:
    """Cosine annealing: α = α_min + (α0 − α_min)·½(1 + cos(π·min(n − 1, total)/total)),
    α0 at n = 1, α_min from n = total + 1 on."""
    return _make("cosine", _cosine, per, steps_per_epoch, lr=_hyper("lr", lr, 0.0),
                 total=_hyper("total", total, 1.0, low_inclusive=True),
                 lr_min=_hyper("lr_min", lr_min, 0.0, low_inclusive=True))


def _warmup(n: Tensor, lr: Hyper, warmup: Hyper) -> Tensor:
    return lr * torch.clamp(n / warmup, max=1.0)


def linear_warmup(lr: Hyper, warmup: Hyper, *, per: str = "step",
                  steps_per_epoch: int | None = None) -> Schedule:
    """α = α0·min(1, n/warmup): α0/warmup at the first step, α0 from n = warmup on."""
    return _make("linear_warmup", _warmup, per, steps_per_epoch, lr=_hyper("lr", lr, 0.0),
                 warmup=_hyper("warmup", warmup, 1.0, low_inclusive=True))


class _Join(Schedule):
    def __call__(self, t: Any) -> Tensor:
        schedules, boundaries = self.params["schedules"], self.params["boundaries"]
        t = _as_time(t)
        scale = 1 if self.per == "step" else self.steps_per_epoch
        if scale is None:
            self.time(t)  # raises the steps_per_epoch error
        out = schedules[0](t)
        for b, s in zip(boundaries, schedules[1:]):
            b = b * scale
            out = torch.where(t > b, s(torch.clamp(t - b, min=1)), out)
        return out


def join(schedules: Sequence[Schedule], boundaries: Sequence[int], *, per: str = "step",
         steps_per_epoch: int | None = None) -> Schedule:
    """Piecewise in time: ``schedules[i]`` runs after ``boundaries[i−1]`` steps (or epochs,
    ``per="epoch"``), its own clock restarting at t = 1 there; e.g. a 5-epoch linear warmup
    then cosine: ``join([linear_warmup(a, 5, per="epoch"), cosine(a, 95, per="epoch")], [5],
    per="epoch")``."""
    schedules = tuple(schedules)
    if not schedules or not all(isinstance(s, Schedule) for s in schedules):
        raise ConfigError("join needs a list of schedules")
    bounds = [_positive_int("boundary", b) for b in boundaries]
    if len(bounds) != len(schedules) - 1:
        raise ConfigError(f"join of {len(schedules)} schedules needs {len(schedules) - 1} "
                          f"boundaries, got {len(bounds)}")
    if any(b2 <= b1 for b1, b2 in zip(bounds, bounds[1:])):
        raise ConfigError(f"join boundaries must increase, got {bounds}")
    spe = None if steps_per_epoch is None else _positive_int("steps_per_epoch", steps_per_epoch)
    joined = _Join("join", _constant, {"schedules": schedules, "boundaries": tuple(bounds)},
                   _unit(per), spe)
    return joined if spe is None else joined.with_steps_per_epoch(spe)


def build_schedule(spec: Mapping[str, Any], *, lr: Hyper,
                   steps_per_epoch: int | None = None) -> Schedule:
    """Build ``{name: ..., **params}`` (from YAML or flags) with the optimizer's α0 = ``lr``.

    Lists of numbers become per-member tensors; ``join`` takes ``schedules`` (a list of such
    mappings) and ``boundaries``. Unknown names or parameters and bad values raise
    :class:`~netrx.errors.ConfigError` listing what is valid.
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(f"a schedule is a mapping such as {{name: cosine, total: 1000}}, "
                          f"got {spec!r}")
    params = dict(spec)
    name = params.pop("name", None)
    if name is None:
        raise ConfigError(f"the schedule needs a name; choose one of: {', '.join(SCHEDULES)}")
    factory = SCHEDULES.get(name)
    if "lr" in params:
        raise ConfigError("set the initial learning rate α0 with optimizer.lr (--lr), not "
                          "inside the schedule")
    SCHEDULES.check_options(name, params)
    if name == "join":
        children = params.get("schedules")
        if not isinstance(children, list) or not children:
            raise ConfigError("schedule 'join' needs schedules: a list of schedule mappings")
        params["schedules"] = [build_schedule(c, lr=lr) for c in children]
        if "boundaries" not in params:
            raise ConfigError("schedule 'join' needs boundaries: one step (or epoch) count "
                              "between consecutive schedules")
        out = join(**params)
    else:
        missing = [p for p in SCHEDULES.required(name) if p not in params]
        if missing:
            raise ConfigError(f"schedule {name!r} needs {', '.join(missing)}; it takes: "
                              f"{', '.join(SCHEDULES.options(name))}")
        out = factory(lr, **params)
    return out if steps_per_epoch is None else out.with_steps_per_epoch(steps_per_epoch)
