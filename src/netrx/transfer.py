"""Transfer learning: start from a trained network, freeze its first layers, draw a new
output layer for the new classes, fine-tune the rest with per-layer learning rates.

The notes' table (seed 002), as :func:`strategy` turns it into a :class:`TransferPlan`::

                        very similar dataset            very different dataset
    very little data    linear classifier on the top    "you're in trouble… try a linear
                        layer                           classifier from different stages"
    quite a lot of data finetune a few layers           finetune a larger number of layers

Vocabulary. A *layer* is a parameterised module, in order (the Linear / Conv layers of
the Sequential); a batch-norm module belongs to the layer before it. *Freezing* the first
N layers means their parameters get an update of exactly 0: the optimizer is chained with
:func:`~netrx.optim.masking.scale_by_mask`, a [1, P] per-coordinate multiplier that is 0
on frozen layers, ``head_lr_multiplier`` on the new output layer, and
``layer_lr_decay``^d on a pretrained layer d layers below it (lower rates for earlier
layers). A frozen layer's batch norm keeps the source's running statistics and uses them
in training too (it runs in eval mode, as Keras does for frozen batch norm): a frozen
layer is then a fixed function, and its statistics are never overwritten by a few
mini-batches of the new data. A *stage* s cuts the network after layer s and puts a new
linear output layer on top ("a linear classifier from stage s").

Sources: a netrx run directory (``weights.safetensors``, stacked [K, ...]: its best member
per ``summary.json``; the architecture comes from its ``config.yaml``) or a state-dict
file (``torch.load(weights_only=True)``, or ``.safetensors``). Layers are matched in
order, so a source trained with or without dropout transfers either way; every missing
tensor and shape mismatch is listed in one :class:`TransferError`.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from netrx.errors import ConfigError, RunDirError, unknown_choice

if TYPE_CHECKING:
    from netrx.config import RunConfig
    from netrx.experiment import Prepared
    from netrx.optim.base import Transform
    from netrx.population import Population

SIMILARITIES = ("similar", "different")
STATISTICS = ("running_mean", "running_var", "num_batches_tracked")
#: the model keys a transfer from a run directory takes from the source's config
ARCHITECTURE_KEYS = ("family", "hidden", "activation", "init", "batch_norm",
                     "batch_norm_momentum", "channels")


class TransferError(ConfigError):
    """The source's weights do not fit the model (missing tensors, shape mismatches)."""


# --------------------------------------------------------------------------- layers


@dataclass(frozen=True)
class LayerGroup:
    """Layer ``index`` (0-based): its module and the normalisation modules after it."""

    index: int
    modules: tuple[str, ...]  # module prefixes, the parameterised layer first
    params: tuple[str, ...]  # full names of the group's parameters


def _is_norm(module: nn.Module) -> bool:
    return hasattr(module, "running_mean") or isinstance(
        module, nn.modules.batchnorm._NormBase | nn.LayerNorm | nn.GroupNorm)


def layer_groups(module: nn.Module) -> list[LayerGroup]:
    """The model's layers in order: every module that owns parameters starts a group,
    except normalisation modules, which join the group before them."""
    groups: list[LayerGroup] = []
    for prefix, m in module.named_modules():
        own = [f"{prefix}.{n}" if prefix else n for n, _ in m.named_parameters(recurse=False)]
        if not own:
            continue
        if _is_norm(m) and groups:
            g = groups[-1]
            groups[-1] = replace(g, modules=(*g.modules, prefix), params=(*g.params, *own))
        else:
            groups.append(LayerGroup(len(groups), (prefix,), tuple(own)))
    return groups


def truncate(model: nn.Module, stage: int, n_outputs: int,
             input_shape: Sequence[int]) -> nn.Sequential:
    """Layers 1…``stage`` of a Sequential (each with what follows it up to the next layer:
    normalisation, activation, dropout), then flatten and a new Linear output layer of
    ``n_outputs`` units (Xavier, as the builders' output layers): a linear classifier on
    the features of stage s."""
    from netrx.nn.layers import Linear

    if not isinstance(model, nn.Sequential):
        raise ConfigError(f"transfer.stage needs a Sequential model, got {type(model).__name__}")
    groups = layer_groups(model)
    if not 1 <= stage < len(groups):
        raise ConfigError(f"transfer.stage={stage}: the network has {len(groups)} layers, so a "
                          f"stage is 1…{len(groups) - 1} (cut after that layer)")
    cut = int(groups[stage].modules[0].split(".")[0])
    body = nn.Sequential(*list(model)[:cut], nn.Flatten())
    with torch.no_grad():
        features = body.eval()(torch.zeros(2, *input_shape)).shape[1]
    return nn.Sequential(*body, Linear(features, n_outputs, init="xavier"))


# --------------------------------------------------------------------------- sources


@dataclass
class Source:
    """One trained network's tensors, by state-dict name, in layer order."""

    path: Path
    state: dict[str, Tensor]
    config: RunConfig | None = None  # the source run's config (run directories only)
    member: int | None = None  # the member taken from a run directory


def _natural(key: str) -> list[Any]:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"\.", key)]


def load_source(path: str | os.PathLike, member: int | None = None) -> Source:
    """Read a run directory (its best member, or ``member``) or a state-dict file."""
    p = Path(path)
    if p.is_dir():
        return _from_run_dir(p, member)
    if not p.is_file():
        raise TransferError(f"transfer.init_from {str(p)!r} does not exist; give a netrx run "
                            "directory or a state-dict file (.pt, .pth, .safetensors)")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(p))
        except Exception as e:  # safetensors raises its own error types
            raise TransferError(f"{p} is not a readable safetensors file: {e}") from None
        return Source(p, dict(sorted(state.items(), key=lambda kv: _natural(kv[0]))))
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError, RuntimeError, EOFError ...
        raise TransferError(
            f"cannot read {p} as a state dict with torch.load(weights_only=True): "
            f"{str(e).splitlines()[0]}. Save the weights with torch.save(model.state_dict(), "
            "path), not the model object") from None
    return Source(p, _state_dict(obj, p))


def _state_dict(obj: Any, path: Path) -> dict[str, Tensor]:
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj:
        raise TransferError(f"{path} holds a {type(obj).__name__}, not a state dict "
                            "(a mapping of names to tensors)")
    bad = [str(k) for k, v in obj.items() if not isinstance(v, Tensor)]
    if bad:
        raise TransferError(f"{path}: entries {bad[:10]} are not tensors; a state dict maps "
                            "names to tensors")
    return {str(k): v for k, v in obj.items()}


def _from_run_dir(d: Path, member: int | None) -> Source:
    from safetensors.torch import load_file

    from netrx.config import load_config

    missing = [f for f in ("config.yaml", "weights.safetensors", "summary.json")
               if not (d / f).is_file()]
    if missing:
        raise RunDirError(f"{d} is not a finished netrx run directory: missing "
                          f"{', '.join(missing)}")
    config = load_config(d / "config.yaml")
    k = int(json.loads((d / "summary.json").read_text())["best_member"]) if member is None \
        else int(member)
    stacked = load_file(str(d / "weights.safetensors"))
    K = next(iter(stacked.values())).shape[0]
    if not 0 <= k < K:
        raise RunDirError(f"member {k} does not exist; the run in {d} has {K} members")
    state = {n: v[k].clone() for n, v in sorted(stacked.items(), key=lambda kv: _natural(kv[0]))}
    return Source(d, state, config, k)


def _source_layers(state: Mapping[str, Tensor]) -> list[list[str]]:
    """The source's layers in order, each a list of module prefixes (layer first, then its
    normalisation modules): a module with ``weight`` is a layer, one with ``running_mean``
    a normalisation; others (dropout rates) are not layers."""
    modules: dict[str, set[str]] = {}
    for key in state:
        prefix, _, leaf = key.rpartition(".")
        modules.setdefault(prefix, set()).add(leaf)
    layers: list[list[str]] = []
    for prefix, leaves in modules.items():
        if "running_mean" in leaves and layers:
            layers[-1].append(prefix)
        elif "weight" in leaves:
            layers.append([prefix])
    return layers


# --------------------------------------------------------------------------- loading


def _join(prefix: str, leaf: str) -> str:
    return f"{prefix}.{leaf}" if prefix else leaf


@torch.no_grad()
def load_weights(pop: Population, state: Mapping[str, Tensor], *, reinit: int = 1,
                 exact_depth: bool = True) -> list[str]:
    """Copy the source's layers, in order, into every member, except the top ``reinit``
    layers, which keep their fresh initialisation (member k's from seed + k). Parameters
    and normalisation statistics are copied; dropout rates are not (they are the new
    run's settings). With ``exact_depth`` the source must have as many layers as the model
    (a truncated model takes the source's first layers). Returns the names copied.

    Raises :class:`TransferError` listing every missing tensor and every shape mismatch.
    """
    groups = layer_groups(pop.template)
    sources = _source_layers(state)
    if exact_depth and len(sources) != len(groups):
        raise TransferError(
            f"the source has {len(sources)} layers and the model {len(groups)}; build the "
            "model with the source's architecture (model.family, model.hidden, "
            "model.batch_norm, ...) or cut it with transfer.stage")
    template = dict(pop.template.named_modules())
    pairs: list[tuple[str, str]] = []
    missing: list[str] = []
    for g in groups[:max(len(groups) - reinit, 0)]:
        src = sources[g.index] if g.index < len(sources) else []
        for j, prefix in enumerate(g.modules):
            m = template[prefix]
            leaves = [n for n, _ in m.named_parameters(recurse=False)]
            leaves += [n for n, _ in m.named_buffers(recurse=False) if n in STATISTICS]
            for leaf in leaves:
                key = _join(src[j], leaf) if j < len(src) else None
                if key is None or key not in state:
                    where = f"layer {g.index + 1}"
                    missing.append(f"{_join(prefix, leaf)!r} ({where}: the source's "
                                   + (f"{src[j]!r} has no {leaf!r})" if j < len(src) else
                                      "layer has no such module)" if src else
                                      f"network has only {len(sources)} layers)"))
                else:
                    pairs.append((_join(prefix, leaf), key))
    mismatched = []
    for name, key in pairs:
        want = tuple(pop.shapes[name]) if name in pop.params else tuple(pop.buffers[name].shape[1:])
        if tuple(state[key].shape) != want:
            mismatched.append(f"{name!r} is {list(want)} in the model but the source's "
                              f"{key!r} is {list(state[key].shape)}")
    if missing or mismatched:
        parts = []
        if missing:
            parts.append(f"missing in the source ({len(missing)}): {'; '.join(missing)}")
        if mismatched:
            parts.append(f"shape mismatches ({len(mismatched)}): {'; '.join(mismatched)}")
        keys = ", ".join(list(state)[:12]) + (" …" if len(state) > 12 else "")
        raise TransferError("cannot load the source's weights into the model — "
                            + " | ".join(parts) + f". The source holds: {keys}")
    for name, key in pairs:
        target = pop.params[name] if name in pop.params else pop.buffers[name]
        target.copy_(state[key].to(target.device, target.dtype).expand_as(target))
    return [name for name, _ in pairs]


def _eval_only(self: nn.Module, mode: bool = True) -> nn.Module:
    return nn.Module.train(self, False)


_FROZEN: dict[type, type] = {}


def freeze_statistics(pop: Population, groups: Sequence[LayerGroup]) -> int:
    """Put the normalisation modules of ``groups`` in eval mode for good: they normalise
    with, and never update, their running statistics. Returns how many were frozen."""
    modules = dict(pop.template.named_modules())
    count = 0
    for g in groups:
        for prefix in g.modules[1:]:
            m = modules[prefix]
            cls = type(m)
            if cls not in _FROZEN.values():
                if cls not in _FROZEN:
                    _FROZEN[cls] = type(f"Frozen{cls.__name__}", (cls,), {"train": _eval_only})
                m.__class__ = _FROZEN[cls]
            m.train(False)
            count += 1
    return count


def _check_freeze(freeze: int, n_layers: int, reinit: int = 1) -> None:
    if not 0 <= freeze <= n_layers - reinit:
        raise ConfigError(f"transfer.freeze={freeze}: the model has {n_layers} layers and the "
                          f"top {reinit} are trained afresh, so freeze at most "
                          f"{n_layers - reinit}")


def lr_multipliers(pop: Population, *, freeze: int = 0, reinit: int = 1,
                   head_lr_multiplier: float = 1.0, layer_lr_decay: float = 1.0) -> Tensor:
    """[1, P] per-coordinate multiplier of the learning rate, over the flat layout:

    m = 0 on the first ``freeze`` layers; m = ``head_lr_multiplier`` on the top ``reinit``
    (re-initialised) layers; m = ``layer_lr_decay``^d on a pretrained layer d ≥ 1 layers
    below the lowest re-initialised one.
    """
    groups = layer_groups(pop.template)
    L = len(groups)
    _check_freeze(freeze, L, reinit)
    mask = torch.ones(1, pop.n_params, device=pop.device, dtype=pop.dtype)
    for g in groups:
        top = L - reinit
        value = 0.0 if g.index < freeze else head_lr_multiplier if g.index >= top \
            else layer_lr_decay ** (top - g.index)
        names = set(g.params)
        inside = pop.flat_mask(lambda n, s, names=names: n in names)
        mask = torch.where(inside.bool(), value, mask)
    return mask


# --------------------------------------------------------------------------- the notes' table


@dataclass(frozen=True)
class TransferPlan:
    """What to do with a pretrained network of ``n_layers`` layers.

    ``freeze`` first layers get no update; the top ``reinit`` layers (the output layer) are
    drawn afresh; ``stages`` (when not empty) are the cuts to try, each a linear classifier
    on the frozen layers 1…s; learning rates: × ``head_lr_multiplier`` on the new layer,
    × ``layer_lr_decay``^d on a pretrained layer d layers below it.
    """

    cell: str
    advice: str
    freeze: int
    reinit: int = 1
    stages: tuple[int, ...] = ()
    head_lr_multiplier: float = 1.0
    layer_lr_decay: float = 1.0

    def describe(self) -> str:
        """One line: the cell, the notes' advice and what netrx does about it."""
        if self.stages:
            what = (f"a linear classifier on stage s ∈ {list(self.stages)} (the best on dev), "
                    "layers 1…s frozen")
        else:
            frozen = {0: "nothing", 1: "layer 1"}.get(self.freeze, f"layers 1…{self.freeze}")
            what = f"freeze {frozen}, a new output layer"
            if self.layer_lr_decay != 1.0:
                what += f", lr × {self.layer_lr_decay:g}^d d layers below it"
        if self.head_lr_multiplier != 1.0:
            what += f", lr × {self.head_lr_multiplier:g} on the new layer"
        return f"{self.cell}: {self.advice} → {what}"


def strategy(n_examples: int, similarity: str, *, n_layers: int = 3, n_classes: int = 1,
             threshold: int = 100) -> TransferPlan:
    """The notes' table as a plan for a network of ``n_layers`` layers (output layer
    included). "Very little data" means fewer than ``threshold`` training examples per class
    (``n_examples / n_classes``); ``similarity`` is ``similar`` or ``different``.

    * little + similar → a linear classifier on the top layer: freeze every pretrained
      layer, train the new output layer only;
    * little + different → linear classifiers from the different stages: candidates
      s = 1…L−1, the best on dev is kept;
    * a lot + similar → finetune a few layers: the top ⌈(L−1)/3⌉ pretrained layers (at
      least 1) train at lr × 0.3^d, the rest are frozen;
    * a lot + different → finetune a larger number: the top max(2, round(2(L−1)/3)) pretrained
      layers (capped at L−1) train at lr × 0.5^d, the rest are frozen.
    """
    if similarity not in SIMILARITIES:
        raise unknown_choice("similarity", similarity, SIMILARITIES)
    if int(n_examples) < 1:
        raise ConfigError(f"n_examples={n_examples!r}: transfer needs at least 1 example")
    if int(n_layers) < 1 or int(n_classes) < 1 or int(threshold) < 1:
        raise ConfigError("n_layers, n_classes and threshold must be ≥ 1")
    pre = int(n_layers) - 1  # pretrained layers under the output layer
    little = n_examples / n_classes < threshold
    size = "very little data" if little else "quite a lot of data"
    cell = f"{size}, very {similarity} dataset"
    if little and similarity == "similar":
        return TransferPlan(cell, "use a linear classifier on the top layer", freeze=pre)
    if little:
        return TransferPlan(cell, "you're in trouble… try a linear classifier from different "
                            "stages", freeze=pre, stages=tuple(range(1, pre + 1)))
    if similarity == "similar":
        tuned = min(pre, max(1, math.ceil(pre / 3)))
        return TransferPlan(cell, "finetune a few layers", freeze=pre - tuned,
                            layer_lr_decay=0.3)
    tuned = min(pre, max(2, round(2 * pre / 3)))
    return TransferPlan(cell, "finetune a larger number of layers", freeze=pre - tuned,
                        layer_lr_decay=0.5)


# --------------------------------------------------------------------------- wiring a run


def resolve(cfg: RunConfig, prepared: Prepared, plan: TransferPlan | None = None) -> RunConfig:
    """The fully resolved config of a transfer run (a copy; ``cfg`` without
    ``transfer.init_from`` comes back unchanged). A run directory's architecture
    (``model.family``, ``hidden``, ...) replaces the config's. ``plan`` — or, with
    ``strategy: auto``, the plan :func:`strategy` makes for the training set (m examples,
    the model's depth) — fills the unset ``freeze``, ``stage``, ``head_lr_multiplier`` and
    ``layer_lr_decay``; a plan with several stages trains each candidate as configured
    (without regularizers) and keeps the one with the lowest mean dev error over members
    (train error when there is no dev set)."""
    from netrx.experiment import build_population

    if cfg.transfer.init_from is None:
        if plan is not None:
            raise ConfigError("a transfer plan needs transfer.init_from (--init-from)")
        return cfg
    cfg = cfg.model_copy(deep=True)
    source = load_source(cfg.transfer.init_from)
    if source.config is not None:
        for key in ARCHITECTURE_KEYS:
            setattr(cfg.model, key, getattr(source.config.model, key))
    t = cfg.transfer
    if plan is None and t.strategy == "auto":
        full = cfg.model_copy(deep=True)
        full.transfer.stage = None
        n_layers = len(layer_groups(build_population(full, prepared).template))
        plan = strategy(len(prepared.splits.train.y), t.similarity, n_layers=n_layers,
                        n_classes=max(prepared.dataset.n_classes, 1))
    if plan is None:
        return cfg
    if t.stage is None and len(plan.stages) == 1:
        t.stage = plan.stages[0]
    elif t.stage is None and plan.stages:
        t.stage = _best_stage(cfg, prepared, plan.stages)
    if t.freeze is None:
        t.freeze = t.stage if t.stage is not None else plan.freeze
    if t.head_lr_multiplier is None:
        t.head_lr_multiplier = plan.head_lr_multiplier
    if t.layer_lr_decay is None:
        t.layer_lr_decay = plan.layer_lr_decay
    return cfg


def _best_stage(cfg: RunConfig, prepared: Prepared, stages: Sequence[int]) -> int:
    from netrx.experiment import build_optimizer_for, build_population
    from netrx.train import fit

    splits = prepared.splits
    has_dev = len(splits.dev.y) > 0
    scores = {}
    for s in stages:
        trial = cfg.model_copy(deep=True)
        trial.transfer.stage, trial.transfer.freeze = s, s
        pop = build_population(trial, prepared)
        setup_population(trial, pop)
        optimizer, lr = build_optimizer_for(trial, pop)
        history = fit(pop, splits.train, splits.dev if has_dev else None, optimizer=optimizer,
                      loss=prepared.objective, epochs=trial.train.epochs,
                      batch_size=trial.train.batch_size, task=prepared.dataset.task,
                      progress=False, lr=lr)
        scores[s] = float(history.metric("dev_error" if has_dev else "train_error")[-1].mean())
    return min(scores, key=lambda s: (scores[s], -s))


def setup_population(cfg: RunConfig, pop: Population) -> list[str]:
    """Load ``cfg.transfer.init_from`` into ``pop`` (all layers but the output layer) and
    freeze the statistics of the first ``transfer.freeze`` layers. Returns the names
    copied; a config without ``init_from`` leaves ``pop`` untouched."""
    t = cfg.transfer
    if t.init_from is None:
        return []
    source = load_source(t.init_from)
    copied = load_weights(pop, source.state, exact_depth=t.stage is None)
    freeze = t.freeze or 0
    groups = layer_groups(pop.template)
    _check_freeze(freeze, len(groups))
    freeze_statistics(pop, groups[:freeze])
    return copied


def with_lr_multipliers(optimizer: Transform, cfg: RunConfig, pop: Population) -> Transform:
    """``optimizer`` followed by the transfer's per-layer learning-rate multipliers (0 on
    frozen layers); unchanged without ``transfer.init_from``."""
    from netrx.optim.base import Transform, chain
    from netrx.optim.masking import scale_by_mask

    t = cfg.transfer
    if t.init_from is None:
        return optimizer
    if not isinstance(optimizer, Transform):
        raise ConfigError(f"transfer learning needs a first-order optimizer (a chain of "
                          f"transforms), not {cfg.optimizer.name!r}")
    mask = lr_multipliers(pop, freeze=t.freeze or 0,
                          head_lr_multiplier=t.head_lr_multiplier or 1.0,
                          layer_lr_decay=1.0 if t.layer_lr_decay is None else t.layer_lr_decay)
    return chain(optimizer, scale_by_mask({"flat": mask}))
