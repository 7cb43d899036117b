"""Checkpoints: everything needed to resume a fit exactly where it stopped.

A checkpoint holds the stacked parameters and buffers, the optimizer state, the
per-member stop/divergence flags, the epoch and step, the shuffling generators,
the members' random streams, the global RNG state and every callback's
``state_dict``. It is written to a temporary name and renamed, and loaded with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch.utils._pytree import tree_flatten

from netrx.errors import RunDirError
from netrx.files import load_refusal, write_atomic
from netrx.train.callbacks import Callback, EpochLog, FitState


def checkpoint_state(state: FitState) -> dict:
    pop = state.population
    leaves, _ = tree_flatten(state.opt_state)
    callbacks = state.callbacks
    return {
        "format": 1,
        "epoch": state.epoch,
        "step": state.step,
        "population": pop.stacked_state(),
        "stopped": pop.stopped.cpu(),
        "diverged": pop.diverged.cpu(),
        "optimizer": [leaf for leaf in leaves if isinstance(leaf, torch.Tensor)],
        "batches": state.batches.state_dict(),
        "rng": torch.get_rng_state(),
        # every CUDA device's generator too, for what a user's module draws from torch's ones
        "cuda_rng": torch.cuda.get_rng_state_all() if pop.device.type == "cuda" else [],
        "callbacks": [cb.state_dict() for cb in callbacks],
        # the members' random streams (seed, step counter), where the population has them
        **({"streams": pop.streams.state_dict()} if hasattr(pop, "streams") else {}),
    }


def save_checkpoint(path: str | os.PathLike, state: FitState) -> None:
    data = checkpoint_state(state)
    write_atomic(Path(path), lambda f: torch.save(data, f))


#: what every checkpoint holds (the format of :func:`checkpoint_state`)
KEYS = ("format", "epoch", "step", "population", "stopped", "diverged", "optimizer",
        "batches", "rng", "callbacks")


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A :func:`save_checkpoint` file as a dict, read with ``torch.load(weights_only=True)``
    (tensors and plain values only: a pickle that would run code is refused, never run).
    Anything else — corrupt, truncated, pickled objects, another format — is a RunDirError."""
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"no checkpoint at {path}")
    try:
        with warnings.catch_warnings():  # torch's notes on a foreign pickle's protocol
            warnings.simplefilter("ignore")
            data = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # UnpicklingError, RuntimeError, EOFError, ...
        raise RunDirError(f"cannot resume from {path}: {load_refusal(e)}; it is not a "
                          f"checkpoint netrx wrote: remove {path.parent} to start the run "
                          "over") from None
    if not isinstance(data, dict) or data.get("format") != 1 or \
            any(k not in data for k in KEYS):
        raise RunDirError(f"checkpoint {path} is not in netrx's checkpoint format; remove "
                          f"{path.parent} to start the run over")
    return data


def load_checkpoint(path: str | os.PathLike, state: FitState) -> None:
    """Restore a :func:`save_checkpoint` file into a freshly set-up ``state`` (same config).
    Every shape is checked before anything is restored."""
    path = Path(path)
    data = read_checkpoint(path)
    pop = state.population
    _check_matches(path, data, pop.stacked_state(), state)
    pop.load_stacked_state(data["population"])
    pop.stopped.copy_(data["stopped"])
    pop.diverged.copy_(data["diverged"])
    leaves, _ = tree_flatten(state.opt_state)
    tensors = [leaf for leaf in leaves if isinstance(leaf, torch.Tensor)]
    with torch.no_grad():
        for t, saved in zip(tensors, data["optimizer"]):
            t.copy_(saved)
    state.batches.load_state_dict(data["batches"])
    torch.set_rng_state(data["rng"])
    if isinstance(data.get("streams"), dict) and hasattr(pop, "streams"):
        pop.streams.load_state_dict(data["streams"])
    if data.get("cuda_rng") and pop.device.type == "cuda":
        torch.cuda.set_rng_state_all(data["cuda_rng"])
    state.epoch, state.step = int(data["epoch"]), int(data["step"])
    callbacks = state.callbacks
    for cb, cb_state in zip(callbacks, data["callbacks"]):
        cb.load_state_dict(_on_device(cb_state, pop.device))


def _check_matches(path: Path, data: dict[str, Any], live: dict[str, torch.Tensor],
                   state: FitState) -> None:
    """A RunDirError unless the checkpoint's tensors have the live population's names and
    shapes and the optimizer's number of state tensors (it was written by this config)."""
    saved = data["population"]
    if not isinstance(saved, dict) or set(saved) != set(live) or any(
            not isinstance(saved[n], torch.Tensor) or saved[n].shape != t.shape
            for n, t in live.items()):
        raise RunDirError(f"checkpoint {path} was written for another architecture or number "
                          "of members than this config; resume with the run's own "
                          f"{path.parent / 'config.yaml'}")
    leaves, _ = tree_flatten(state.opt_state)
    tensors = [leaf for leaf in leaves if isinstance(leaf, torch.Tensor)]
    if len(tensors) != len(data["optimizer"]) or any(
            not isinstance(s, torch.Tensor) or s.shape != t.shape
            for t, s in zip(tensors, data["optimizer"])):
        raise RunDirError(f"checkpoint {path} was written with a different optimizer")


def _on_device(obj: Any, device: torch.device) -> Any:
    """A callback's saved state with its tensors on the population's device (a checkpoint
    is read onto the CPU; early stopping's best weights must meet the live ones there)."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _on_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_on_device(v, device) for v in obj)
    return obj


class Checkpoint(Callback):
    """Save a resumable checkpoint to ``path`` every ``every`` epochs and at the end."""

    def __init__(self, path: str | os.PathLike, every: int = 1) -> None:
        self.path, self.every = Path(path), max(1, int(every))

    def on_epoch_end(self, state: FitState, log: EpochLog) -> None:
        if state.epoch % self.every == 0:
            save_checkpoint(self.path, state)

    def on_fit_end(self, state: FitState) -> None:
        save_checkpoint(self.path, state)
