"""Transfer learning: start from a trained network, freeze its first layers, draw a new
output layer, fine-tune the rest with per-layer learning rates.

- :mod:`~netrx.transfer.layers`: what a layer is, truncation at a stage, reading a source
  (a run directory or a state-dict file) and loading its weights layer by layer;
- :mod:`~netrx.transfer.plans`: the notes' table (data size × similarity) as a
  :class:`TransferPlan`, frozen statistics and the per-layer learning-rate multipliers.

A config's transfer section is turned into these by :mod:`netrx.experiment.transfer`.
"""

from netrx.transfer.layers import (
    ARCHITECTURE_KEYS,
    STATISTICS,
    LayerGroup,
    Source,
    TransferError,
    layer_groups,
    load_source,
    load_weights,
    natural_order,
    truncate,
)
from netrx.transfer.plans import (
    SIMILARITIES,
    TransferPlan,
    check_freeze,
    freeze_statistics,
    lr_multipliers,
    strategy,
)

__all__ = [
    "ARCHITECTURE_KEYS",
    "check_freeze",
    "freeze_statistics",
    "layer_groups",
    "LayerGroup",
    "load_source",
    "load_weights",
    "lr_multipliers",
    "natural_order",
    "SIMILARITIES",
    "Source",
    "STATISTICS",
    "strategy",
    "TransferError",
    "TransferPlan",
    "truncate",
]
