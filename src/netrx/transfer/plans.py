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

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from netrx.errors import ConfigError, unknown_choice

if TYPE_CHECKING:
    from netrx.population.population import Population

from netrx.transfer.layers import LayerGroup, layer_groups

SIMILARITIES = ("similar", "different")


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


def check_freeze(freeze: int, n_layers: int, reinit: int = 1) -> None:
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
    check_freeze(freeze, L, reinit)
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
