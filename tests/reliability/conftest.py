"""Generic fixtures of the reliability tests: the console script run in process, and a
pickle that would leave a marker file behind if anything ever unpickled it."""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture
def cli(capsys):
    """``cli("train", ...)``: ``netrx.cli.entry.main`` (the console script: one-line
    ``error: …`` and exit 2 for every user mistake) with stdout and stderr captured (not a
    terminal: rich writes at 80 columns)."""
    from netrx.cli.entry import main

    def run(*argv: str) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


class _Payload:
    """Unpickling calls ``os.system('touch MARKER')``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def payload(tmp_path):
    """``payload(path)`` writes a pickle to ``path`` (as torch.save would, if ``torch`` is
    true) that creates ``payload.marker`` when unpickled."""
    marker = tmp_path / "UNPICKLED"

    def write(path: Path, torch: bool = False) -> Path:
        if torch:
            import torch as _torch

            _torch.save({"format": 1, "x": _Payload(marker)}, path)
        else:
            path.write_bytes(pickle.dumps(_Payload(marker)))
        return path

    write.marker = marker
    return write
