"""Files written whole or not at all, and JSON that stays valid with NaN in it.

Every file netrx writes goes through :func:`write_atomic`: written to a temporary name
beside its destination and renamed over it, so an interruption never leaves half a file.
A write refused by the system (no permission, a read-only file system, a full disk) is a
:class:`~netrx.errors.WriteError` naming the path and the fix. Names of run directories
pass :func:`check_name`: one plain path component, never a way out of ``runs/``.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from netrx.errors import ConfigError, RunDirError, WriteError, excerpt

#: errors of the file system, not of netrx: each becomes a one-line WriteError
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_NO_PERMISSION = {errno.EACCES, errno.EPERM, errno.EROFS}
#: a run name: one path component of letters, digits and - _ . + = @ , (not leading . or -)
_NAME = re.compile(r"\w[\w.+=@,-]*")
MAX_NAME_BYTES = 120


def write_error(path: str | os.PathLike, e: OSError) -> OSError:
    """``e`` as a one-line :class:`WriteError` about ``path`` when the file system refused
    the write (full disk, no permission); any other OSError unchanged."""
    if isinstance(e, WriteError):
        return e
    reason = e.strerror or type(e).__name__
    if e.errno in _NO_SPACE:
        fix = "free some space"
        err = WriteError(f"cannot write {path}: {reason}; {fix} (or choose another --out) "
                         "and run again")
    elif e.errno in _NO_PERMISSION:
        fix = "make it writable"
        err = WriteError(f"cannot write {path}: {reason}; choose a directory you can write "
                         "to (--out DIR)")
    else:
        return e
    err.errno, err.path, err.reason, err.fix = e.errno, str(path), reason, fix
    return err


def make_dir(path: str | os.PathLike) -> Path:
    """``mkdir -p path``, a refusal of the file system as a :class:`WriteError`."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(path, e) from None
    return path


def check_name(name: object, what: str = "run name") -> str:
    """``name`` if it is a plain name for a directory under ``runs/`` (one path component:
    letters, digits and ``- _ . + = @ ,``, not starting with ``.`` or ``-``, not ending in
    ``.partial``, at most MAX_NAME_BYTES); else a ConfigError with a usable suggestion."""
    text = name if isinstance(name, str) else ""
    ok = (_NAME.fullmatch(text) is not None and not text.endswith(".partial")
          and len(text.encode()) <= MAX_NAME_BYTES)
    if ok:
        return text
    fixed = re.sub(r"[^\w.+=@,-]+", "-", text).strip(".-")[:60].removesuffix(".partial")
    hint = f", e.g. --name {fixed}" if fixed and _NAME.fullmatch(fixed) else ""
    raise ConfigError(f"{what} {excerpt(name)} is not one plain name: use letters, digits and "
                      "- _ . + = @ , (no '/' or spaces, not starting with '.' or '-', not "
                      f"ending in .partial, at most {MAX_NAME_BYTES} bytes){hint}")


def safe_name(text: str) -> str:
    """``text`` made into a name that :func:`check_name` accepts (for default names)."""
    fixed = re.sub(r"-{2,}", "-", re.sub(r"[^\w.+=@,-]+", "-", text)).strip(".-")
    return fixed.removesuffix(".partial")[:MAX_NAME_BYTES // 2] or "run"


def load_refusal(e: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in a few words (torch's own
    message would advise ``weights_only=False``, which runs the file's code)."""
    if re.search(r"global", str(e), re.IGNORECASE):
        return ("it holds pickled Python objects, not only tensors (refused: netrx never "
                "runs a file's code)")
    return (f"it is corrupt, or a pickle that weights_only loading refuses "
            f"({type(e).__name__}; netrx never runs a file's code)")


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file of a run directory; unreadable or invalid JSON is a RunDirError."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) else type(e).__name__
        raise RunDirError(f"cannot read {path}: {reason} (not a JSON file written by "
                          "netrx)") from None


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
    make_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise write_error(path, e) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode, **({"newline": ""} if "b" not in mode else {})) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and write_error(path, e) is not e:
            raise write_error(path, e) from None
        raise


def finite(obj: Any) -> Any:
    """``obj`` with every NaN/inf float replaced by None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def to_json(obj: Any) -> str:
    """Indented JSON; NumPy scalars and arrays become plain numbers and lists."""
    import numpy as np

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
