"""What a gradient check finds: the relative difference between backpropagation and
two-sided finite differences,

    ‖dθapprox − dθ‖₂ / (‖dθapprox‖₂ + ‖dθ‖₂),

overall and per parameter tensor, the notes' bands (< 1e-7 great, < 1e-5 fine, < 1e-3
look again, ≥ 1e-3 a bug) and where a bug is. :mod:`netrx.diagnose.gradcheck` runs the
check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

#: (upper bound, verdict): the notes' bands for the relative difference
BANDS: tuple[tuple[float, str], ...] = ((1e-7, "great"), (1e-5, "fine"), (1e-3, "look again"))
BUG = "bug"
#: per-coordinate round-off of a float64 two-sided difference is about 1e-16·|J|/ε ≈ 1e-9;
#: a tensor whose gradient RMS is below this floor is compared against noise, not judged.
NOISE_FLOOR = 1e-8


def band(rel_diff: float) -> str:
    """The notes' verdict for a relative difference: great, fine, look again or bug."""
    if not math.isfinite(rel_diff):
        return BUG
    for bound, name in BANDS:
        if rel_diff < bound:
            return name
    return BUG


def relative_difference(approx: Tensor, grad: Tensor) -> float:
    """‖approx − grad‖₂ / (‖approx‖₂ + ‖grad‖₂); 0 when both are 0."""
    num = float(torch.linalg.vector_norm(approx - grad))
    den = float(torch.linalg.vector_norm(approx) + torch.linalg.vector_norm(grad))
    if den == 0.0:
        return 0.0 if num == 0.0 else math.inf
    return num / den


@dataclass
class TensorCheck:
    """The check of one parameter tensor."""

    name: str  # parameter name, e.g. "1.weight"
    module: str  # class of the module that owns it, e.g. "Linear"
    numel: int
    indices: np.ndarray  # checked flat coordinates
    approx: np.ndarray  # dθapprox at those coordinates
    grad: np.ndarray  # dθ at those coordinates
    rel_diff: float
    order: int = -1  # position of the owning module in the forward pass

    @property
    def checked(self) -> int:
        return len(self.indices)

    @property
    def max_abs_diff(self) -> float:
        return float(np.max(np.abs(self.approx - self.grad))) if self.checked else 0.0

    @property
    def negligible(self) -> bool:
        """Both gradients are at the round-off level: the relative difference is noise."""
        if not self.checked:
            return True
        rms = max(np.sqrt(np.mean(self.approx ** 2)), np.sqrt(np.mean(self.grad ** 2)))
        return bool(rms < NOISE_FLOOR)

    @property
    def verdict(self) -> str:
        return "≈ 0 (round-off)" if self.negligible else band(self.rel_diff)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.module})"


@dataclass
class GradCheckResult:
    """Overall and per-tensor relative differences and the verdict."""

    rel_diff: float
    tensors: list[TensorCheck]
    eps: float
    loss: float  # J(θ) on the batch (data loss + penalty)
    batch_size: int
    member: int = 0
    switched_off: list[str] = field(default_factory=list)
    label: str = ""  # e.g. "at initialisation", "after 5 epochs"

    @property
    def verdict(self) -> str:
        """The worse of the overall band and the bands of the tensors with a gradient
        above round-off (a bug in a small tensor must not hide in the overall norm)."""
        judged = [band(self.rel_diff)] + [t.verdict for t in self.tensors if not t.negligible]
        ranks = [name for _, name in BANDS] + [BUG]
        return max(judged, key=ranks.index)

    @property
    def is_bug(self) -> bool:
        return self.verdict == BUG

    @property
    def checked(self) -> int:
        return sum(t.checked for t in self.tensors)

    @property
    def n_params(self) -> int:
        return sum(t.numel for t in self.tensors)

    @property
    def failing(self) -> list[TensorCheck]:
        """Tensors whose band is ``bug``, in forward order."""
        bad = [t for t in self.tensors if not t.negligible and band(t.rel_diff) == BUG]
        return sorted(bad, key=lambda t: t.order)

    @property
    def suspect(self) -> TensorCheck | None:
        """The first failing tensor of the failing layer that runs last in the forward
        pass. Gradients flow backward, so a wrong backward corrupts its own layer and every
        layer before it, never the layers after it: the bug is in that layer's backward, or
        in a parameter-free operation between it and the next layer that checks out."""
        bad = self.failing
        if not bad:
            return None
        last = max(t.order for t in bad)
        return next(t for t in bad if t.order == last)

    def summary(self) -> str:
        """One paragraph: the verdict, the number, and where the bug is."""
        head = (f"gradient check{' ' + self.label if self.label else ''}: relative difference "
                f"{self.rel_diff:.3g} over {self.checked} of {self.n_params} coordinates "
                f"(ε = {self.eps:g}, batch of {self.batch_size}) → {self.verdict}")
        s = self.suspect
        if s is not None:
            layer = [t.name for t in self.failing if t.order == s.order]
            after = sorted((t for t in self.tensors if t.order > s.order), key=lambda t: t.order)
            head += (f"; the gradient goes wrong at {', '.join(layer)} ({s.module}, relative "
                     f"difference {s.rel_diff:.3g}): the wrong backward is in that layer"
                     + (f" or between it and {after[0].label}, which checks out" if after
                        else "") + "; layers before it inherit the error")
        return head
