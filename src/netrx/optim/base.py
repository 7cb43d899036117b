"""The optimizer contract, as in optax: small transforms chained together.

A :class:`Transform` is a pair of pure-looking functions::

    state = t.init(params)
    updates, state = t.update(grads, state, params)
    params = apply_updates(params, updates)

``params``, ``grads`` and ``updates`` are dicts name -> tensor whose first
dimension is the population member. Every hyperparameter is a float or a
tensor of shape [K] (one value per member); :func:`per_member` reshapes such a
tensor so that it broadcasts against a [K, ...] parameter.

For speed the state tensors are updated in place and returned; callers must
not rely on the old state after ``update``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor

Params = dict[str, Tensor]
State = Any
Hyper = float | Tensor


class Transform(NamedTuple):
    """``init(params) -> state``; ``update(grads, state, params) -> (updates, state)``.

    Two optional fields let :mod:`netrx.optim.fused` run the common optimizers as a few
    in-place passes over the parameters (the training loop's fast path); they never change
    what ``update`` computes: ``kernel`` (a primitive's in-place form, a
    :class:`~netrx.optim.fused.Kernel`) and ``parts`` (the transforms a :func:`chain`
    composes)."""

    init: Callable[[Params], State]
    update: Callable[[Params, State, Params | None], tuple[Params, State]]
    kernel: Any = None
    parts: tuple[Transform, ...] | None = None


def chain(*transforms: Transform) -> Transform:
    """Compose transforms left to right: the updates of one are the grads of the next."""

    def init(params: Params) -> tuple:
        return tuple(t.init(params) for t in transforms)

    def update(grads: Params, state: tuple, params: Params | None = None):
        new_state = []
        for t, s in zip(transforms, state):
            grads, s = t.update(grads, s, params)
            new_state.append(s)
        return grads, tuple(new_state)

    return Transform(init, update, parts=tuple(transforms))


@torch.no_grad()
def apply_updates(params: Params, updates: Mapping[str, Tensor]) -> Params:
    """θ := θ + u for every tensor, in place; returns ``params``."""
    for name, p in params.items():
        p.add_(updates[name])
    return params


def per_member(h: Hyper, like: Tensor) -> Hyper:
    """Broadcast a float or a [K] tensor hyperparameter against ``like`` of shape [K, ...]."""
    if isinstance(h, Tensor) and h.dim() == 1:
        return h.view(h.shape[0], *([1] * (like.dim() - 1)))
    return h


def check_hyper(name: str, h: Hyper, low: float, high: float | None = None, *,
                low_inclusive: bool = False, high_inclusive: bool = False) -> None:
    """Raise :class:`~netrx.errors.ConfigError` if ``h`` (float or [K]) leaves its range."""
    from netrx.errors import ConfigError

    values = h.detach().flatten().tolist() if isinstance(h, Tensor) else [float(h)]
    if isinstance(h, Tensor) and h.dim() > 1:
        raise ConfigError(f"{name} must be a float or a 1-D tensor of one value per member, "
                          f"got shape {tuple(h.shape)}")
    for v in values:
        bad_low = v < low if low_inclusive else v <= low
        bad_high = high is not None and (v > high if high_inclusive else v >= high)
        if bad_low or bad_high or v != v:
            lo = "[" if low_inclusive else "("
            hi = "]" if high_inclusive else ")"
            rng = f"{lo}{low}, {high if high is not None else 'inf'}{hi}"
            raise ConfigError(f"{name}={v!r} is outside {rng}; pick a value in that range")


class OnDevice:
    """A hyperparameter (a float, a [K] tensor, or a mask tensor) as one device and dtype
    use it: each (device, dtype) gets its own copy, made once (at ``init``), so a step
    uploads nothing. Transforms keep their hyperparameters in these instead of rebinding
    them in ``init``: initialising a transform for float64 parameters leaves what a
    float32 state uses untouched — the transform stays pure, as in optax."""

    __slots__ = ("value", "_copies")

    def __init__(self, value: Any) -> None:
        self.value = value
        self._copies: dict[tuple[Any, Any], Any] = {}

    def __call__(self, like: Tensor) -> Any:
        v = self.value
        if not isinstance(v, Tensor):
            return v if v is None or callable(v) else float(v)
        key = (like.device, like.dtype)
        got = self._copies.get(key)
        if got is None:
            got = self._copies[key] = v.to(device=like.device, dtype=like.dtype)
        return got


def as_device_hyper(h: Hyper, like: Tensor) -> Hyper:
    """Move a tensor hyperparameter to the device and dtype of ``like`` once, at init time."""
    if isinstance(h, Tensor):
        return h.to(device=like.device, dtype=like.dtype)
    return float(h)


class Scratch:
    """Work buffers reused from one update to the next, so that a step allocates no new
    [K, P] tensors (fresh multi-megabyte allocations cost page faults on the CPU). Not a
    tensor, so checkpoints skip it. A transform's output may live in its scratch: it is
    valid until that transform's next update."""

    __slots__ = ("buffers", "_rows")

    def __init__(self) -> None:
        self.buffers: dict[str, Tensor] = {}
        self._rows: dict[str, tuple[Tensor, list[Tensor]]] = {}

    def rows(self, key: str, t: Tensor) -> list[Tensor]:
        """``list(t.unbind(0))``, the members' rows of ``t``, made once while ``t`` is the
        same tensor (a fused kernel takes one tensor per member)."""
        got = self._rows.get(key)
        if got is None or got[0] is not t:
            got = self._rows[key] = (t, list(t.unbind(0)))
        return got[1]

    def __call__(self, key: str, like: Tensor) -> Tensor:
        buf = self.buffers.get(key)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype \
                or buf.device != like.device:
            buf = self.buffers[key] = torch.empty_like(like)
        return buf

    def __deepcopy__(self, memo: dict) -> Scratch:
        return Scratch()


def tree_zeros_like(params: Params) -> Params:
    return {k: torch.zeros_like(v) for k, v in params.items()}


def member_count(params: Params) -> int:
    """K, the leading dimension shared by every tensor of ``params``."""
    return next(iter(params.values())).shape[0]


def check_strength(name: str, value: Hyper) -> None:
    """Raise ConfigError unless ``value`` (float or [K] tensor) is finite and ≥ 0."""
    from netrx.errors import ConfigError

    values = value.detach().flatten().tolist() if isinstance(value, Tensor) else [float(value)]
    for v in values:
        if not v >= 0 or v == float("inf"):
            raise ConfigError(f"{name}={v!r} must be a finite value ≥ 0 (0 turns it off)")
