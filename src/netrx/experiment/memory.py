"""How much memory a population of K members needs, against what the machine has: an
estimate made from one network before K of them are built, and the refusal (unless
``force``) when they cannot fit.

Per member, with P parameters and B buffer values (4 bytes each)::

    state       4·P·(parameters + gradients + optimizer slots + copies kept by callbacks)
    building    4·P·2 + ~10 KB per module  (each member's network is a copy, then stacked)
    activations 4·batch·A·2                (A values per example, kept for backward)

The estimate is rough (±50 %): it is meant to stop a population that needs ten times the
memory there is, before minutes of building and a swap storm, not to plan to the byte.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from netrx.config import RunConfig
from netrx.errors import ConfigError

#: tensors of P values per member that each optimizer keeps (L-BFGS: its history pairs)
OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "heavy_ball": 1, "nesterov": 1, "adagrad": 1,
                   "rmsprop": 1, "adam": 2, "adamw": 2, "lbfgs": 22}
#: Python objects of one copied module (measured: ~10 KB per submodule)
MODULE_BYTES = 10_000
#: refuse when the estimate exceeds this fraction of the memory available
HEADROOM = 0.8


@dataclass
class MemoryEstimate:
    members: int
    params: int  # P, per member
    per_member: int  # bytes
    device: str

    @property
    def total(self) -> int:
        return self.members * self.per_member


def estimate(cfg: RunConfig, model: torch.nn.Module, input_shape: Sequence[int],
             device: torch.device) -> MemoryEstimate:
    """Bytes a population of ``cfg.members`` copies of ``model`` needs to train on
    ``device`` (see the module's docstring for the terms)."""
    P = sum(p.numel() for p in model.parameters())
    B = sum(b.numel() for b in model.buffers())
    slots = OPTIMIZER_SLOTS.get(cfg.optimizer.name, 2)
    ens, es = cfg.train.ensemble, cfg.train.early_stopping
    slots += int(ens is not None and ens.method == "polyak")  # the running average
    slots += int(es is not None and es.restore_best)  # the best weights
    state = 4 * P * (2 + slots) + 4 * B
    building = 4 * P * 2 + MODULE_BYTES * sum(1 for _ in model.modules())
    acts = 4 * cfg.train.batch_size * _activations(model, input_shape) * 2
    per_member = state + acts + (building if device.type == "cpu" else 0)
    return MemoryEstimate(cfg.members, P, per_member, str(device))


def _activations(model: torch.nn.Module, input_shape: Sequence[int]) -> int:
    """Values one example leaves in the leaf modules' outputs (a forward pass on the meta
    device: no memory, no arithmetic); 0 when the model cannot run there."""
    import copy

    total = 0

    def count(_m: torch.nn.Module, _i: object, out: object) -> None:
        nonlocal total
        if isinstance(out, torch.Tensor):
            total += out.numel()

    try:
        meta = copy.deepcopy(model).to("meta").eval()
        hooks = [m.register_forward_hook(count) for m in meta.modules()
                 if not any(True for _ in m.children())]
        with torch.no_grad():
            meta(torch.empty((1, *input_shape), device="meta"))
        for h in hooks:
            h.remove()
    except Exception:  # a layer without a meta kernel: count the parameters' outputs only
        return 0
    return total


def available(device: torch.device) -> int | None:
    """Bytes free on ``device``: the GPU's free memory, or the host's available memory
    (within the container's cgroup limit, if any); None when unknown."""
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except Exception:
            return None
    free = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            free = None
    try:  # cgroup v2: the container's limit minus its usage
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text())
            room = int(limit) - used
            free = room if free is None else min(free, room)
    except (OSError, ValueError):
        pass
    return free


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def check_fits(cfg: RunConfig, model: torch.nn.Module, input_shape: Sequence[int],
               device: torch.device, *, force: bool = False) -> MemoryEstimate:
    """The estimate for ``cfg.members`` members; a ConfigError naming the estimate, what is
    available and how many members would fit when it exceeds HEADROOM of the free memory
    (``force`` skips the refusal)."""
    est = estimate(cfg, model, input_shape, device)
    free = available(device)
    if force or free is None or est.total <= HEADROOM * free:
        return est
    fit = max(0, int(HEADROOM * free // max(est.per_member, 1)))
    where = "GPU memory" if device.type == "cuda" else "memory"
    fix = f"use at most --members {fit} (or a smaller --batch-size)" if fit else \
        "use a smaller network or --batch-size"
    raise ConfigError(
        f"{cfg.members} member{'s' * (cfg.members > 1)} need about {gib(est.total)} of {where} "
        f"({est.params:,} parameters each, with gradients, {cfg.optimizer.name} state and the "
        f"activations of a batch of {cfg.train.batch_size}) but about {gib(free)} is "
        f"available; {fix}, or pass --force to try anyway")
