"""Optimizers as composable transforms (see :mod:`netrx.optim.base`)."""

from netrx.optim.adaptive import scale_by_adagrad, scale_by_adam, scale_by_rms
from netrx.optim.aliases import (
    OPTIMIZERS,
    adagrad,
    adam,
    adamw,
    build_optimizer,
    heavy_ball,
    lbfgs,
    momentum,
    nesterov,
    rmsprop,
    sgd,
)
from netrx.optim.base import Transform, apply_updates, chain, per_member
from netrx.optim.ewa import ewa
from netrx.optim.lbfgs import LBFGS, minimize
from netrx.optim.transforms import (
    add_decayed_weights,
    clip_by_global_norm,
    clip_by_value,
    current_lr,
    scale_by_lr,
    scale_by_schedule,
    trace,
)

__all__ = [
    "LBFGS",
    "OPTIMIZERS",
    "Transform",
    "adagrad",
    "adam",
    "adamw",
    "add_decayed_weights",
    "apply_updates",
    "build_optimizer",
    "chain",
    "clip_by_global_norm",
    "clip_by_value",
    "current_lr",
    "ewa",
    "heavy_ball",
    "lbfgs",
    "minimize",
    "momentum",
    "nesterov",
    "per_member",
    "rmsprop",
    "scale_by_adagrad",
    "scale_by_adam",
    "scale_by_lr",
    "scale_by_rms",
    "scale_by_schedule",
    "sgd",
    "trace",
]
