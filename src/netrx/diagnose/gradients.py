"""Gradient flow: a callback that watches every layer of every member while training.

Per parameter tensor and member, averaged over the steps of an epoch:

- the gradient norm ‖∂J/∂W‖₂. Vanishing: a layer's norm below ``vanishing_ratio``
  (1e-3) times the last layer's, or below ``vanishing_floor`` (1e-10). Exploding: NaN /
  inf, a norm above ``exploding_norm`` (1e3), ``exploding_ratio`` (1e3) times the last
  layer's, or grown ``exploding_ratio`` times since the first epoch;
- the update-to-parameter ratio ‖ΔW‖₂ / ‖W‖₂ of the step the optimizer took (healthy
  near 1e-3: much lower and the layer barely learns, much higher and it thrashes).

Per activation module (on a fixed probe batch, at the end of each epoch, evaluation
mode, member by member):

- saturation of tanh / sigmoid: the fraction of activations within 1 % of the
  asymptotes (|a| > 0.99 for tanh, a < 0.01 or a > 0.99 for sigmoid), where g′ ≈ 0;
- the dead-ReLU fraction: units (feature × position) that output 0 for every probe
  example, so no gradient flows through them.

Sums are accumulated on the device and read once per epoch (no synchronisation per
step). :attr:`GradientMonitor.records` holds one dict per (epoch, member, layer) for a
gradient-flow heatmap; :meth:`GradientMonitor.to_csv` writes them.
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from netrx.errors import ConfigError
from netrx.files import write_atomic
from netrx.population.population import Population
from netrx.train.callbacks import Callback, EpochLog, FitState

FIELDS = ("epoch", "member", "layer", "module", "kind", "grad_norm", "update_ratio",
          "param_norm", "saturation", "dead_fraction")


class GradientFlowWarning(UserWarning):
    """A vanishing or exploding gradient was flagged."""


@dataclass(frozen=True)
class GradientFlag:
    """One flagged problem: ``kind`` is ``vanishing`` or ``exploding``."""

    kind: str
    epoch: int
    member: int
    layer: str
    module: str
    value: float
    message: str


def _saturation(module: nn.Module, a: Tensor) -> Tensor | None:
    if isinstance(module, nn.Tanh):
        return (a.abs() > 0.99).double().mean()
    if isinstance(module, nn.Sigmoid):
        return ((a < 0.01) | (a > 0.99)).double().mean()
    return None


def _dead(module: nn.Module, a: Tensor) -> Tensor | None:
    if isinstance(module, (nn.ReLU, nn.ReLU6)):
        return (~(a > 0).any(0)).double().mean()
    return None


ACTIVATIONS = (nn.Tanh, nn.Sigmoid, nn.ReLU, nn.ReLU6)


class GradientMonitor(Callback):
    """Record gradient norms, update/parameter ratios and activation statistics per layer
    and member; flag vanishing and exploding gradients with the layer and epoch.

    Args:
        probe: inputs [B, ...] for the activation statistics (e.g. 256 training
            examples, already preprocessed); without it saturation / dead-ReLU are
            not measured.
        every: read gradients every ``every`` steps (1: every step).
        vanishing_ratio: flag a weight tensor whose gradient norm is below this
            fraction of the last layer's (default 1e-3: three orders of magnitude).
        vanishing_floor: flag a weight tensor whose gradient norm is below this
            absolute value (the layer does not learn at all).
        exploding_ratio: flag a weight tensor whose gradient norm exceeds the last
            layer's by this factor, or grew by this factor since the first epoch.
        exploding_norm: flag a weight tensor whose gradient norm exceeds this absolute
            value (with a loss of order 1; in a ReLU net with too large weights every
            layer's gradient is huge, so ratios between layers stay near 1).
        warn: also issue a :class:`GradientFlowWarning` for each new flag.
    """

    def __init__(self, probe: Tensor | np.ndarray | None = None, *, every: int = 1,
                 vanishing_ratio: float = 1e-3, vanishing_floor: float = 1e-10,
                 exploding_ratio: float = 1e3, exploding_norm: float = 1e3,
                 warn: bool = False) -> None:
        if int(every) < 1:
            raise ConfigError(f"every={every!r} must be ≥ 1 step")
        if not 0 < vanishing_ratio < 1:
            raise ConfigError(f"vanishing_ratio={vanishing_ratio!r} must be in (0, 1)")
        if not exploding_ratio > 1:
            raise ConfigError(f"exploding_ratio={exploding_ratio!r} must be > 1")
        self.probe = probe
        self.every = int(every)
        self.vanishing_ratio = float(vanishing_ratio)
        self.vanishing_floor = float(vanishing_floor)
        self.exploding_ratio = float(exploding_ratio)
        self.exploding_norm = float(exploding_norm)
        self.warn = warn
        self.records: list[dict[str, Any]] = []
        self.flags: list[GradientFlag] = []
        self._first: np.ndarray | None = None

    # -- setup -------------------------------------------------------------------------
    def on_fit_start(self, state: FitState) -> None:
        pop = state.population
        self.names = list(pop.offsets)
        owners = {n: n.rpartition(".")[0] for n in self.names}
        self.modules = {n: type(pop.template.get_submodule(owners[n])).__name__
                        for n in self.names}
        self.is_weight = np.array([len(pop.shapes[n]) >= 2 for n in self.names])
        seg = torch.empty(pop.n_params, dtype=torch.long)
        for t, n in enumerate(self.names):
            a, b = pop.offsets[n]
            seg[a:b] = t
        self._seg = seg.to(pop.device)
        T = len(self.names)
        zeros = lambda: torch.zeros(pop.members, T, device=pop.device, dtype=torch.float64)
        self._zeros = zeros
        self._reset()
        if self.probe is not None:
            probe = torch.as_tensor(np.asarray(self.probe) if not isinstance(self.probe, Tensor)
                                    else self.probe)
            self._probe = probe.to(pop.device, pop.dtype)
        else:
            self._probe = None

    def _reset(self) -> None:
        self._grad = self._zeros()
        self._ratio = self._zeros()
        self._count = 0

    def _per_tensor_sq(self, flat: Tensor) -> Tensor:
        """[K, P] -> [K, T] (float64): Σ of squares over each tensor's slice, one fused
        ``index_add`` in the population's dtype."""
        flat = flat.detach()
        out = torch.zeros(flat.shape[0], len(self.names), device=flat.device, dtype=flat.dtype)
        return out.index_add_(1, self._seg, flat.pow(2)).to(torch.float64)

    # -- hooks ---------------------------------------------------------------------------
    def on_step_end(self, state: FitState) -> None:
        if state.step % self.every:
            return
        pop = state.population
        with torch.no_grad():
            self._grad += self._per_tensor_sq(pop.flat_grad).sqrt()
            update = state.last_update
            if update is not None:
                upd = self._per_tensor_sq(update).sqrt()
                par = self._per_tensor_sq(pop.flat).sqrt()
                self._ratio += upd / par.clamp_min(torch.finfo(torch.float64).tiny)
        self._count += 1

    def on_epoch_end(self, state: FitState, log: EpochLog) -> None:
        if self._count == 0:
            return
        pop = state.population
        with torch.no_grad():
            grad = (self._grad / self._count).cpu().numpy()
            ratio = (self._ratio / self._count).cpu().numpy()
            pnorm = self._per_tensor_sq(pop.flat).sqrt().cpu().numpy()
        self._reset()
        epoch = state.epoch
        for k in range(pop.members):
            for t, n in enumerate(self.names):
                self.records.append({
                    "epoch": epoch, "member": k, "layer": n, "module": self.modules[n],
                    "kind": "weight" if self.is_weight[t] else "bias",
                    "grad_norm": float(grad[k, t]), "update_ratio": float(ratio[k, t]),
                    "param_norm": float(pnorm[k, t]), "saturation": None,
                    "dead_fraction": None})
        if self._probe is not None:
            self._activation_records(pop, epoch)
        self._flag(grad, epoch, log.status)

    def _activation_records(self, pop: Population, epoch: int) -> None:
        stats: list[tuple[int, str, str, Tensor, str]] = []
        for k in range(pop.members):
            module = pop.member_module(k)
            hooks = []
            for name, m in module.named_modules():
                if isinstance(m, ACTIVATIONS):
                    def hook(mod: nn.Module, args: Any, out: Tensor, _n: str = name,
                             _k: int = k) -> None:
                        s = _saturation(mod, out)
                        d = _dead(mod, out)
                        if s is not None:
                            stats.append((_k, _n, type(mod).__name__, s, "saturation"))
                        if d is not None:
                            stats.append((_k, _n, type(mod).__name__, d, "dead_fraction"))
                    hooks.append(m.register_forward_hook(hook))
            try:
                with torch.no_grad():
                    module(self._probe)
            finally:
                for h in hooks:
                    h.remove()
        if not stats:
            return
        values = torch.stack([s[3] for s in stats]).cpu().numpy()
        for (k, name, cls, _, field), v in zip(stats, values):
            rec = {f: None for f in FIELDS}
            rec.update(epoch=epoch, member=k, layer=name, module=cls, kind="activation")
            rec[field] = float(v)
            self.records.append(rec)

    def _flag(self, grad: np.ndarray, epoch: int, status: list[str]) -> None:
        if self._first is None:
            self._first = grad.copy()
        weights = np.flatnonzero(self.is_weight)
        if len(weights) < 1:
            return
        last = weights[-1]
        for k in range(grad.shape[0]):
            if status[k] != "training":
                continue
            g = grad[k]
            if not np.all(np.isfinite(g)):
                bad = int(np.flatnonzero(~np.isfinite(g))[0])
                self._add("exploding", epoch, k, bad, float(g[bad]),
                          f"gradient of {self._label(bad)} is {g[bad]} at epoch {epoch} "
                          f"(member {k}): lower the learning rate, clip gradients, or use a "
                          "smaller initialisation")
                continue
            for t in weights:
                rel = g[t] / g[last] if g[last] > 0 else (1.0 if g[t] == 0 else math.inf)
                grown = g[t] / self._first[k, t] if self._first[k, t] > 0 else 1.0
                if g[t] < self.vanishing_floor or rel < self.vanishing_ratio:
                    self._add("vanishing", epoch, k, t, float(g[t]),
                              f"vanishing gradient at {self._label(t)}, epoch {epoch}, member "
                              f"{k}: ‖g‖ = {g[t]:.3g}, {rel:.2g}× the last layer's "
                              f"({g[last]:.3g}); use ReLU with He initialisation, batch norm, "
                              "or a shallower network")
                elif ((rel > self.exploding_ratio and g[last] > self.vanishing_floor)
                      or grown > self.exploding_ratio or g[t] > self.exploding_norm):
                    self._add("exploding", epoch, k, t, float(g[t]),
                              f"exploding gradient at {self._label(t)}, epoch {epoch}, member "
                              f"{k}: ‖g‖ = {g[t]:.3g} ({rel:.2g}× the last layer's, "
                              f"{grown:.2g}× its first epoch); lower the learning rate, clip "
                              "gradients, or initialise with smaller variance")

    def _label(self, t: int) -> str:
        return f"{self.names[t]} ({self.modules[self.names[t]]})"

    def _add(self, kind: str, epoch: int, member: int, t: int, value: float, msg: str) -> None:
        flag = GradientFlag(kind, epoch, member, self.names[t], self.modules[self.names[t]],
                            value, msg)
        first = not any(f.kind == kind and f.member == member and f.layer == flag.layer
                        for f in self.flags)
        self.flags.append(flag)
        if self.warn and first:
            warnings.warn(msg, GradientFlowWarning, stacklevel=3)

    # -- reading -------------------------------------------------------------------------
    def flagged(self, kind: str | None = None) -> list[GradientFlag]:
        """The flags of one kind (``vanishing`` / ``exploding``), or all."""
        return [f for f in self.flags if kind is None or f.kind == kind]

    def table(self, metric: str = "grad_norm", member: int = 0) -> tuple[list[str], np.ndarray]:
        """(layers, values [epochs, layers]) of one metric for one member: the heatmap."""
        if metric not in FIELDS[5:]:
            raise ConfigError(f"unknown metric {metric!r}; choose one of {', '.join(FIELDS[5:])}")
        rows = [r for r in self.records if r["member"] == member and r[metric] is not None]
        layers = list(dict.fromkeys(r["layer"] for r in rows))
        epochs = sorted({r["epoch"] for r in rows})
        out = np.full((len(epochs), len(layers)), np.nan)
        for r in rows:
            out[epochs.index(r["epoch"]), layers.index(r["layer"])] = r[metric]
        return layers, out

    def to_csv(self, path: str | os.PathLike) -> None:
        def write(f: Any) -> None:
            writer = csv.DictWriter(f, fieldnames=list(FIELDS))
            writer.writeheader()
            for r in self.records:
                writer.writerow({k: "" if r[k] is None else r[k] for k in FIELDS})

        write_atomic(Path(path), write, mode="w")

    def state_dict(self) -> dict:
        return {"records": self.records, "flags": [f.__dict__ for f in self.flags],
                "first": None if self._first is None else self._first.tolist()}

    def load_state_dict(self, state: dict) -> None:
        self.records = list(state["records"])
        self.flags = [GradientFlag(**f) for f in state["flags"]]
        self._first = None if state["first"] is None else np.array(state["first"])
