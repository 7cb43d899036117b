"""Training: ``fit``, callbacks, losses, checkpoints."""

from netrx.train.callbacks import Callback, EarlyStopping, EpochLog, FitState, History, Monitor
from netrx.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from netrx.train.loop import evaluate, fit
from netrx.train.losses import LOSSES, objective_for

__all__ = [
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "EpochLog",
    "FitState",
    "History",
    "LOSSES",
    "Monitor",
    "evaluate",
    "fit",
    "load_checkpoint",
    "objective_for",
    "save_checkpoint",
]
