"""Device selection: ``auto`` (CUDA when available, else CPU), ``cpu`` or ``cuda[:N]``."""

from __future__ import annotations

import torch

from netrx.errors import ConfigError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Map ``auto|cpu|cuda[:N]`` to a :class:`torch.device`; CUDA must exist if asked for."""
    if isinstance(device, torch.device):
        name = str(device)
    else:
        name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} was asked for but this PyTorch build sees no "
                              "CUDA device; use --device cpu or --device auto")
        return torch.device(name)
    raise ConfigError(f"unknown device {device!r}; choose auto, cpu or cuda[:N]")
