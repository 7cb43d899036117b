"""Optimizers as composable transforms (see :mod:`netrx.optim.base`)."""

from netrx.optim.aliases import OPTIMIZERS, adam, build_optimizer, sgd
from netrx.optim.base import Transform, apply_updates, chain, per_member
from netrx.optim.transforms import add_decayed_weights, scale_by_adam, scale_by_lr

__all__ = [
    "OPTIMIZERS",
    "Transform",
    "add_decayed_weights",
    "adam",
    "apply_updates",
    "build_optimizer",
    "chain",
    "per_member",
    "scale_by_adam",
    "scale_by_lr",
    "sgd",
]
