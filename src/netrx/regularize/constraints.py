"""Steps applied to the weights after every optimizer step, as callbacks.

- :class:`ProximalL1`: the proximal step of the L1 penalty λ/m‖w‖₁,
  w := sign(w)·max(|w| − α·λ/m, 0) (soft-thresholding), which sets small
  weights to exactly 0, unlike the subgradient λ/m·sign(w).
- :class:`MaxNorm`: each unit's incoming weight vector w (a row of a Linear
  weight, an output channel of a conv kernel) is projected onto the ball
  ‖w‖₂ ≤ c: w := w · min(1, c/‖w‖₂).

Both act on the weights only (rank ≥ 2; not biases, not batch norm's γ, β),
take float or per-member [K] strengths, and leave members that no longer
train (stopped early or diverged) untouched, so a stopped member stays frozen.
With per-coordinate learning-rate multipliers ``scale`` ([1, P], a transfer run's:
0 on frozen layers), the proximal threshold is α·mᵢ·λ/m and neither touches a
weight whose mᵢ = 0.

The proximal step is a callback rather than an optimizer transform because it
acts on the weights after the optimizer has moved them, whatever the optimizer;
its step size is the member's learning rate α (read each step when ``lr`` is a
schedule ``lr(state) -> [K]``). With adaptive optimizers (Adam) α·λ/m is the
threshold of the proximal step taken with step size α, a common heuristic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from netrx.errors import ConfigError
from netrx.optim.base import check_strength
from netrx.train.callbacks import Callback, FitState

LR = float | Tensor | Callable[[FitState], Any]


def _column(value: float | Tensor, K: int, like: Tensor) -> Tensor:
    """A float or [K] tensor as a [K, 1] tensor on ``like``'s device and dtype."""
    t = torch.as_tensor(value, dtype=like.dtype).to(like.device)
    return t.expand(K).reshape(K, 1) if t.dim() == 0 else t.reshape(K, 1)


@torch.no_grad()
def soft_threshold_(w: Tensor, threshold: Tensor) -> Tensor:
    """w := sign(w)·max(|w| − t, 0), in place (t broadcasts against w)."""
    return w.copy_(torch.sign(w) * torch.clamp(w.abs() - threshold, min=0.0))


class ProximalL1(Callback):
    """After every step: w := sign(w)·max(|w| − α·λ/m, 0) on the weights of active members.

    Args:
        lam: λ, a float or one value per member.
        m: number of training examples.
        lr: α: a float, a [K] tensor, or a callable ``lr(state) -> [K]`` (a schedule).
        scale: per-coordinate learning-rate multipliers mᵢ ([1, P]), or None (all 1).
    """

    def __init__(self, lam: float | Tensor, m: int, lr: LR,
                 scale: Tensor | None = None) -> None:
        check_strength("l1", lam)
        if int(m) < 1:
            raise ConfigError(f"m={m!r}: the number of training examples must be ≥ 1")
        self.lam, self.m, self.lr, self.scale = lam, int(m), lr, scale
        self._mask: Tensor | None = None
        self._lam_col: Tensor | None = None
        self._lr_col: Tensor | None = None

    def on_fit_start(self, state: FitState) -> None:
        pop = state.population
        self._mask = pop.weight_mask()
        if self.scale is not None:
            self._mask = self._mask * self.scale.to(pop.device, pop.dtype)
        self._lam_col = _column(self.lam, pop.members, pop.flat) / self.m
        if not callable(self.lr):
            self._lr_col = _column(self.lr, pop.members, pop.flat)

    def on_step_end(self, state: FitState) -> None:
        pop = state.population
        lr = _column(self.lr(state), pop.members, pop.flat) if callable(self.lr) \
            else self._lr_col
        active = pop.active.to(pop.dtype).unsqueeze(1)
        soft_threshold_(pop.flat, lr * self._lam_col * active * self._mask)


@torch.no_grad()
def max_norm_(w: Tensor, c: Tensor) -> Tensor:
    """Project each unit's incoming weights onto ‖w‖₂ ≤ c, in place.

    ``w`` is [K, out, ...] (a stacked Linear [out, in] or conv [out, in, *k] weight);
    ``c`` is [K, 1]: w[k, j] := w[k, j] · min(1, c[k] / ‖w[k, j]‖₂)."""
    norms = w.flatten(2).norm(dim=2)
    factor = torch.clamp(c / norms.clamp_min(torch.finfo(w.dtype).tiny), max=1.0)
    return w.mul_(factor.view(*factor.shape, *[1] * (w.dim() - 2)))


class MaxNorm(Callback):
    """After every step, every unit's incoming weight vector of an active member gets
    norm ≤ c (``c`` a float or one value per member, > 0); a weight tensor whose
    learning-rate multipliers ``scale`` ([1, P]) are all 0 (a frozen layer) is left as
    it is."""

    def __init__(self, c: float | Tensor, scale: Tensor | None = None) -> None:
        values = c.detach().flatten().tolist() if isinstance(c, Tensor) else [float(c)]
        if any(not v > 0 for v in values):
            raise ConfigError(f"max_norm={c!r} must be > 0 (it bounds ‖w‖₂ of each unit)")
        self.c, self.scale = c, scale
        self._c: Tensor | None = None
        self._weights: list[Tensor] = []

    def on_fit_start(self, state: FitState) -> None:
        pop = state.population
        self._c = _column(self.c, pop.members, pop.flat)
        frozen = set()
        if self.scale is not None:  # read once, here: no host sync in the step
            scale = self.scale.detach().cpu()
            frozen = {n for n, (a, b) in pop.offsets.items()
                      if n in pop.params and not bool(scale[0, a:b].any())}
        self._weights = [p for n, p in pop.params.items() if p.dim() >= 3 and n not in frozen]

    def on_step_end(self, state: FitState) -> None:
        pop = state.population
        # inactive members get an infinite bound: the projection leaves them as they are
        c = torch.where(pop.active.unsqueeze(1), self._c, torch.inf)
        for p in self._weights:
            max_norm_(p, c)
