"""The source side of transfer learning: what a layer is, and loading a trained network's
weights (a netrx run directory or a state-dict file) into a population, layer by layer.

A *layer* is a parameterised module, in order (the Linear / Conv layers of the
Sequential); a batch-norm module belongs to the layer before it. Layers are matched in
order, so a source trained with or without dropout transfers either way; every missing
tensor and shape mismatch is listed in one :class:`TransferError`. Run directories are
read with safetensors, state-dict files with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from netrx.errors import ConfigError
from netrx.files import load_refusal

if TYPE_CHECKING:
    from netrx.population.population import Population

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
    config: Any = None  # the source run's RunConfig (run directories only)
    member: int | None = None  # the member taken from a run directory


def natural_order(key: str) -> list[Any]:
    """Sort key of a state-dict name: numbers as numbers (layer 10 after layer 9)."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"\.", key)]


def load_source(path: str | os.PathLike) -> Source:
    """Read a state-dict file (``.safetensors``, or ``torch.load(weights_only=True)``)."""
    p = Path(path)
    if p.is_dir():
        raise TransferError(f"{p} is a directory: read a netrx run directory with "
                            "netrx.experiment.rundir.read_source")
    if not p.is_file():
        raise TransferError(f"transfer.init_from {str(p)!r} does not exist; give a netrx run "
                            "directory or a state-dict file (.pt, .pth, .safetensors)")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(p))
        except Exception as e:  # safetensors raises its own error types
            raise TransferError(f"{p} is not a readable safetensors file: {e}") from None
        return Source(p, dict(sorted(state.items(), key=lambda kv: natural_order(kv[0]))))
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError, RuntimeError, EOFError ...
        raise TransferError(
            f"cannot read {p} as a state dict with torch.load(weights_only=True): "
            f"{load_refusal(e)}. Save the weights with torch.save(model.state_dict(), "
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
