"""The common optimizers as a few in-place passes: the training loop's fast path.

A chain such as ``adam = chain(scale_by_adam(...), scale_by_lr(α))`` computes its update
in separate steps (the moments, the bias corrections, the division, the learning rate), and
the training loop then keeps the update of the members that still train and adds it to θ.
Each step is a pass over the [K, P] storage. :func:`fused_step` turns the common chains
into one function that does all of it in place, with the per-member factors (bias
corrections, −s·α) carried as one [K] ``scale`` and applied in a single pass::

    value = scale ⊙ x          x: [K, ...] tensors, scale: [K] (one factor per member) or None

Every primitive that takes part has a :class:`Kernel`:

- ``direction`` (reads the gradient; first in the fused run): ``scale_by_adam``, ``trace``
  (heavy ball, Nesterov), ``ewa`` (the notes' momentum), ``scale_by_rms``,
  ``scale_by_adagrad``;
- ``decay``: ``add_decayed_weights`` (AdamW), u := value + λ_wd·θ (⊙ mask);
- ``scale``: ``scale_by_schedule``, a factor s(t) folded into ``scale``;
- ``lr``: ``scale_by_lr``, −s·α(t) folded into ``scale``; a fused run holds one (its state
  keeps the run's work buffers).

The update is then masked to the members where ``active`` is True with a bitwise AND of
its bits (all ones or all zeros per member: exact, NaN-proof, one cheap pass; ``torch.where``
costs about four) and added to θ. A chain whose head is not fusable (gradient clipping in
front) runs that head as usual and the fused tail after it; any other chain has no fused
step and the loop runs ``update`` as before.

Adam in the fused form: with float β1, β2, ε (one value for every member) the moments and
the direction come from torch's one-pass kernel ``torch._fused_adam_`` (one tensor per member,
each with its own step count t, written into a zeroed buffer); with per-member β or ε from
five in-place passes::

    V := V + (1 − β1)(g − V)                  (lerp)
    S := β2·S + (1 − β2)·g²
    u := V / (√S + ε·√(1 − β2ᵗ))              = V̂/(√Ŝ + ε) · (1 − β1ᵗ)/√(1 − β2ᵗ)

and then, either way, θ := θ + [active] · (−s·α·factor) · u in three passes (scale, mask,
add), where the chain and the loop's masking made ten, ``torch.where`` among them.

It equals :func:`~netrx.optim.adaptive.scale_by_adam` chained with
:func:`~netrx.optim.transforms.scale_by_lr` up to rounding (the tests hold every fused
optimizer to 1e-6 of the chain and of ``torch.optim``). The state is the chain's own, so a
fit may switch between the two forms (checkpoints, ReduceLROnPlateau, tuning slots).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from netrx.optim.base import Params, State, Transform, per_member

#: value = scale ⊙ x; ``Out(name, like)`` gives the run's work buffer for a parameter
Out = Callable[[str, Tensor], Tensor]
Step = Callable[[Params, Tensor | None, Any, Params | None, Out], tuple[Params, Tensor | None, Any]]
#: ``apply(grads, state, params, active) -> (applied updates, state)``
Apply = Callable[[Params, State, Params, Tensor | None], tuple[Params, State]]

ROLES = ("direction", "decay", "scale", "lr")


class Kernel(NamedTuple):
    """A primitive's in-place form: ``step(x, scale, state, params, out) -> (x, scale,
    state)`` maps the value scale ⊙ x to the primitive's output and advances its state
    exactly as ``update`` does. A ``direction`` kernel reads x as the raw gradient (scale
    None) and never writes into it; others may write only into ``out`` buffers."""

    role: str
    step: Step


#: the integer type whose bits a floating type's bits are viewed as for masking
_BITS = {torch.float32: torch.int32, torch.float64: torch.int64, torch.float16: torch.int16,
         torch.bfloat16: torch.int16}


def fused_step(t: Transform) -> Apply | None:
    """The fused form of ``t`` (see the module docstring), or None when ``t`` is not one of
    the common chains (then use ``t.update`` and :func:`masked_add_`)."""
    leaves = _leaves(t)
    start = _run_start([leaf for leaf, _ in leaves])
    if start is None:
        return None
    head, run = leaves[:start], leaves[start:]
    steps = [leaf.kernel.step for leaf, _ in run]
    work_at = max(i for i, (leaf, _) in enumerate(run) if leaf.kernel.role == "lr")

    def apply(grads: Params, state: State, params: Params, active: Tensor | None):
        new: dict[tuple[int, ...], Any] = {}
        for leaf, path in head:  # e.g. gradient clipping in front: as usual
            grads, new[path] = leaf.update(grads, _at(state, path), params)
        states = [_at(state, path) for _, path in run]
        work = states[work_at].scratch  # scale_by_lr's state: the run's buffers live there

        def out(name: str, like: Tensor) -> Tensor:
            return work("fused:" + name, like)

        x, scale = grads, None
        for step, s, (_, path) in zip(steps, states, run):
            x, scale, new[path] = step(x, scale, s, params, out)
        applied = {}
        for name, v in x.items():
            u = out(name, v)
            if scale is None:
                if v is not u:
                    u.copy_(v)
            elif v is u:
                u.mul_(per_member(scale, u))
            else:
                torch.mul(v, per_member(scale, v), out=u)
            applied[name] = u
        masked_add_(params, applied, active)
        return applied, _rebuilt(state, new)

    return apply


def _leaves(t: Transform, path: tuple[int, ...] = ()) -> list[tuple[Transform, tuple[int, ...]]]:
    """The transforms of a (nested) chain in order, with where each one's state is."""
    if t.parts is None:
        return [(t, path)]
    return [leaf for i, part in enumerate(t.parts) for leaf in _leaves(part, (*path, i))]


def _run_start(leaves: list[Transform]) -> int | None:
    """Where the fusable tail [direction] (decay | scale | lr)* begins; it must hold a
    scale_by_lr (whose state keeps the buffers). None when there is none."""
    i = len(leaves)
    while i > 0 and leaves[i - 1].kernel is not None \
            and leaves[i - 1].kernel.role in ("decay", "scale", "lr"):
        i -= 1
    if i > 0 and leaves[i - 1].kernel is not None and leaves[i - 1].kernel.role == "direction":
        i -= 1
    if not any(leaf.kernel.role == "lr" for leaf in leaves[i:]):
        return None
    return i


def _at(state: Any, path: tuple[int, ...]) -> Any:
    for i in path:
        state = state[i]
    return state


def _rebuilt(state: Any, new: dict[tuple[int, ...], Any], path: tuple[int, ...] = ()) -> Any:
    """``state`` (nested tuples) with the entries at the paths of ``new`` replaced."""
    if path in new:
        return new[path]
    return tuple(_rebuilt(s, new, (*path, i)) for i, s in enumerate(state))


def keep_only_(u: Tensor, active: Tensor | None) -> Tensor:
    """In place: zero the rows [k] of ``u`` ([K, ...]) whose member is not ``active`` ([K]
    bool), whatever they hold (NaN and inf included), and leave the others bit for bit."""
    if active is None:
        return u
    bits = _BITS.get(u.dtype)
    if bits is None:  # a floating type without a same-sized integer: the slower where
        return torch.where(per_member(active, u), u, torch.zeros((), dtype=u.dtype,
                                                                   device=u.device), out=u)
    mask = active.to(bits).neg_()  # −1 (every bit set) where active, 0 elsewhere
    u.view(bits).bitwise_and_(per_member(mask, u))
    return u


@torch.no_grad()
def masked_add_(params: Params, updates: Params, active: Tensor | None) -> Params:
    """θ := θ + [active]·u for every name, in place; ``updates`` are masked in place (they
    must be buffers the caller may overwrite)."""
    for name, p in params.items():
        p.add_(keep_only_(updates[name], active))
    return params
