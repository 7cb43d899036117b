"""Gradient checking: backpropagation against two-sided finite differences.

J(θ) is the full training objective of one member on a fixed batch: the data loss
plus every penalty (L2, L1, ...). Flatten every parameter into θ; for each checked
coordinate i

    dθapprox[i] = (J(θ + ε·e_i) − J(θ − ε·e_i)) / (2ε)        (ε = 1e-7)

and compare with dθ = ∂J/∂θ from autograd through the relative difference

    ‖dθapprox − dθ‖₂ / (‖dθapprox‖₂ + ‖dθ‖₂)

overall and per parameter tensor, so that a wrong backward is localised to a layer.
Bands (from the notes): < 1e-7 great, < 1e-5 fine, < 1e-3 look again, ≥ 1e-3 a bug.

The notes contain two slips, corrected here: seed 000 writes the two-sided difference
with ``f(θ+ε) + f(θ−ε)`` (it is a difference, ``−``), and seed 004 puts ‖θ‖₂ in the
denominator where ‖dθ‖₂ is meant.

Following the notes ("doesn't work with dropout"), the check runs on a float64 copy of
the member in evaluation mode: dropout and DropConnect are off, batch norm uses its
running statistics instead of batch statistics, and no augmentation is applied; a
:class:`GradCheckWarning` names what was switched off. Run it at initialisation and
again after some training (the notes' advice): :func:`gradcheck_config` does both.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from netrx.diagnose.gradcheck_result import (
    GradCheckResult,
    TensorCheck,
    relative_difference,
)
from netrx.errors import ConfigError, DataError
from netrx.population.population import Population
from netrx.train.losses import Objective, objective_for

if TYPE_CHECKING:
    from netrx.config import RunConfig

class GradCheckWarning(UserWarning):
    """Something was switched off (dropout, batch statistics, ...) for the check."""


def _leaf_modules_with_params(module: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in module.named_modules()
            if any(True for _ in m.parameters(recurse=False))}


def _switched_off(module: nn.Module) -> list[str]:
    """Names of what evaluation mode switches off in ``module``, by layer class."""
    from netrx.nn import layers

    dropconnect = getattr(layers, "DropConnect", None)
    found: dict[str, list[str]] = {}
    for name, m in module.named_modules():
        if dropconnect is not None and isinstance(m, dropconnect):
            kind = "DropConnect"
        elif isinstance(m, (layers.Dropout, nn.modules.dropout._DropoutNd)):
            kind = type(m).__name__
        elif isinstance(m, (layers.BatchNorm, nn.modules.batchnorm._NormBase)):
            kind = f"{type(m).__name__} (running statistics instead of batch statistics)"
        else:
            continue
        found.setdefault(kind, []).append(name)
    return [f"{kind} at {', '.join(repr(n) for n in names)}" for kind, names in found.items()]


def _resolve_objective(loss: str | Objective, y: Tensor) -> Objective:
    if isinstance(loss, Objective):
        return loss
    task = "regression" if y.is_floating_point() else "classification"
    n_classes = int(y.max()) + 1 if task == "classification" else 0
    return objective_for(loss, task, n_classes)


def _member_copy(model: nn.Module | Population, member: int) -> tuple[nn.Module, dict, int, int]:
    """A float64 eval-mode module of member ``member``, the stacked float64 parameters
    [K, ...] (member ``member`` at its slot) and (K, member)."""
    if isinstance(model, Population):
        module = model.member_module(member)
        stacked = {n: p.detach().to(torch.float64).clone() for n, p in model.params.items()}
        return module.double().eval(), stacked, model.members, member
    if not isinstance(model, nn.Module):
        raise ConfigError(f"gradcheck needs a torch.nn.Module or a Population, "
                          f"got {type(model).__name__}")
    if member != 0:
        raise ConfigError("member applies to a Population; a single module is member 0")
    module = copy.deepcopy(model).double().eval()
    stacked = {n: p.detach().clone().unsqueeze(0) for n, p in module.named_parameters()}
    return module, stacked, 1, 0


def gradcheck(model: nn.Module | Population, X: Tensor | np.ndarray, y: Tensor | np.ndarray, *,
              loss: str | Objective = "auto",
              penalty: Callable[[dict[str, Tensor]], Tensor] | None = None,
              eps: float = 1e-7, coords: int | None = 100, seed: int = 0, member: int = 0,
              label: str = "", warn: bool = True) -> GradCheckResult:
    """Check the gradient of J = data loss(model(X), y) + penalty(θ) at the current θ.

    Args:
        model: a ``torch.nn.Module`` or a :class:`~netrx.population.population.Population`
            (then member ``member`` is checked). Neither is modified: the check runs on a
            float64 copy in evaluation mode.
        X, y: the fixed batch (keep it small: every coordinate costs two forward passes).
        loss: ``auto`` (cross-entropy for integer labels, MSE for real targets), a loss
            name, or an :class:`~netrx.train.losses.Objective`.
        penalty: ``penalty(params) -> [K]`` as given to :func:`netrx.fit` (params are
            [K, ...] tensors); J adds the checked member's entry.
        eps: ε of the two-sided difference.
        coords: at most this many coordinates per tensor, drawn without replacement from
            a generator seeded with ``seed`` (``None``: every coordinate).
    """
    if not eps > 0:
        raise ConfigError(f"eps={eps!r} must be > 0 (the notes use 1e-7)")
    if coords is not None and int(coords) < 1:
        raise ConfigError(f"coords={coords!r}: check at least 1 coordinate per tensor "
                          "(or None for all)")
    module, stacked, K, k = _member_copy(model, member)
    device = next(iter(stacked.values())).device
    X = torch.as_tensor(np.asarray(X) if not isinstance(X, Tensor) else X).to(device)
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, Tensor) else y).to(device)
    if X.shape[0] == 0 or X.shape[0] != y.shape[0]:
        raise DataError(f"gradcheck needs a non-empty batch with one label per row; got "
                        f"{X.shape[0]} rows and {y.shape[0]} labels")
    X = X.to(torch.float64) if X.is_floating_point() else X
    objective = _resolve_objective(loss, y)
    yk = (y.to(torch.float64) if y.is_floating_point() else y).unsqueeze(0)
    buffers = {n: b.to(torch.float64) if b.is_floating_point() else b
               for n, b in module.named_buffers()}
    switched = _switched_off(module)
    if switched and warn:
        warnings.warn("gradient check: switched off for the check (J is deterministic only "
                      f"in evaluation mode): {'; '.join(switched)}", GradCheckWarning,
                      stacklevel=2)

    loss_fn = getattr(objective, "fit_loss", objective.loss)  # e.g. label smoothing
    targets = yk.expand(K, *yk.shape[1:])

    def J() -> Tensor:
        params = {n: s[k] for n, s in stacked.items()}
        out = functional_call(module, (params, buffers), (X,))
        # member-wise losses and penalties see all K members; J is member k's entry
        value = _pick(loss_fn(out.unsqueeze(0).expand(K, *out.shape), targets), k)
        if penalty is not None:
            value = value + _pick(penalty(stacked), k)
        return value

    order = _forward_order(module, lambda: J())
    for s in stacked.values():
        s.requires_grad_(True)
    value = J()
    grads = torch.autograd.grad(value, list(stacked.values()), allow_unused=True)
    analytic = {n: (g[k] if g is not None else torch.zeros_like(s[k])).detach()
                for (n, s), g in zip(stacked.items(), grads)}
    for s in stacked.values():
        s.requires_grad_(False)

    owners = _owners(module)
    gen = torch.Generator().manual_seed(int(seed))
    checks: list[TensorCheck] = []
    with torch.no_grad():
        for n, s in stacked.items():
            flat = s[k].view(-1)
            numel = flat.numel()
            if coords is None or coords >= numel:
                idx = torch.arange(numel)
            else:
                idx = torch.randperm(numel, generator=gen)[:int(coords)].sort().values
            approx = torch.empty(len(idx), dtype=torch.float64)
            for j, i in enumerate(idx.tolist()):
                original = flat[i].item()
                flat[i] = original + eps
                plus = J().item()
                flat[i] = original - eps
                minus = J().item()
                flat[i] = original
                approx[j] = (plus - minus) / (2.0 * eps)
            g = analytic[n].reshape(-1)[idx.to(device)].cpu()
            owner = owners.get(n, "")
            checks.append(TensorCheck(n, type(module.get_submodule(owner)).__name__, numel,
                                      idx.numpy(), approx.numpy(), g.numpy(),
                                      relative_difference(approx, g), order.get(owner, -1)))
    all_a = torch.from_numpy(np.concatenate([c.approx for c in checks]))
    all_g = torch.from_numpy(np.concatenate([c.grad for c in checks]))
    return GradCheckResult(relative_difference(all_a, all_g), checks, float(eps),
                           float(value.detach()), int(X.shape[0]), k, switched, label)


def _pick(values: Tensor, k: int) -> Tensor:
    values = values.reshape(-1)
    return values[k] if values.numel() > 1 else values[0]


def _owners(module: nn.Module) -> dict[str, str]:
    """Parameter name -> name of the module that owns it."""
    return {n: n.rpartition(".")[0] for n, _ in module.named_parameters()}


def _forward_order(module: nn.Module, run: Callable[[], Any]) -> dict[str, int]:
    """Module name -> position in the forward pass, for the modules that own parameters."""
    names = {m: n for n, m in _leaf_modules_with_params(module).items()}
    seen: dict[str, int] = {}

    def hook(name: str) -> Callable[..., None]:
        def record(mod: nn.Module, args: Any) -> None:
            seen.setdefault(name, len(seen))
        return record

    hooks = [m.register_forward_pre_hook(hook(n)) for m, n in names.items()]
    try:
        with torch.no_grad():
            run()
    finally:
        for h in hooks:
            h.remove()
    return seen


def gradcheck_config(cfg: RunConfig, *, after_epochs: int = 0, member: int = 0,
                     coords: int | None = 100, eps: float = 1e-7, batch_size: int = 32,
                     progress: bool = False) -> list[GradCheckResult]:
    """Check the configured model on a fixed training batch at initialisation and, with
    ``after_epochs`` > 0, again after that many epochs of the configured training.

    J includes the configured penalties (``regularization`` section); dropout,
    DropConnect, batch statistics and augmentation are off during the check.
    """
    from netrx.experiment import prepare, run
    from netrx.experiment.assemble import Pieces, assemble

    if after_epochs < 0:
        raise ConfigError(f"after_epochs={after_epochs!r} must be ≥ 0")
    if not 0 <= member < cfg.members:
        raise ConfigError(f"member {member} does not exist; the config has {cfg.members} "
                          "members (set --member between 0 and members − 1)")
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size!r} must be ≥ 1")
    prepared = prepare(cfg)
    train = prepared.splits.train
    rng = np.random.default_rng(cfg.seed)
    pick = np.sort(rng.choice(len(train.y), size=min(batch_size, len(train.y)), replace=False))
    X = torch.as_tensor(np.asarray(train.X[pick], dtype=np.float64))
    y = torch.as_tensor(np.asarray(train.y[pick]))
    if cfg.augment.preset != "none":
        warnings.warn("gradient check: switched off for the check: augmentation "
                      f"(augment.preset={cfg.augment.preset!r})", GradCheckWarning, stacklevel=2)

    def check(pieces: Pieces, label: str) -> GradCheckResult:
        result = gradcheck(pieces.population, X,
                           y.to(torch.float32) if prepared.task == "regression" else y,
                           loss=pieces.loss, penalty=pieces.penalty, eps=eps, coords=coords,
                           seed=cfg.seed, member=member, label=label)
        if pieces.augment is not None:
            result.switched_off.append(f"augmentation (augment.preset={cfg.augment.preset!r})")
        return result

    results = [check(assemble(cfg, prepared), "at initialisation")]
    if after_epochs > 0:
        trained = cfg.model_copy(deep=True)
        trained.train.epochs = int(after_epochs)
        result = run(trained, progress=progress, write=False, prepared=prepared)
        pieces = assemble(trained, prepared, population=result.population)
        results.append(check(pieces, f"after {after_epochs} epochs"))
    return results
