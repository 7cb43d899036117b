"""Files written whole or not at all, and JSON that stays valid with NaN in it.

Every file netrx writes goes through :func:`write_atomic`: written to a temporary name
beside its destination and renamed over it, so an interruption never leaves half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np


def _umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, write: Callable[[IO], Any], mode: str = "wb") -> None:
    """Write through ``write(file)`` to a temporary name beside ``path``, then rename. The
    file gets the mode a plain ``open`` would give it (0666 less the umask: 0644 by
    default), not ``mkstemp``'s private 0600, so that others on the machine can read a run."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode, **({"newline": ""} if "b" not in mode else {})) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def finite(obj: Any) -> Any:
    """``obj`` with every NaN/inf float replaced by None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def to_json(obj: Any) -> str:
    """Indented JSON; NumPy scalars and arrays become plain numbers and lists."""
    def default(o: Any) -> Any:
        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return float(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(f"cannot serialise {type(o).__name__}")

    return json.dumps(obj, indent=2, default=default, allow_nan=False)


def write_json(path: Path, obj: Any) -> None:
    """``obj`` as JSON (NaN/inf → null), written atomically."""
    text = to_json(finite(obj))
    write_atomic(Path(path), lambda f: f.write(text), mode="w")
