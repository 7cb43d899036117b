"""The bias / variance verdict and the recipe for a finished run directory.

Reads ``summary.json`` (the best member's train / dev / test error, and the member
table), ``config.yaml`` and ``preprocess.json`` (input shape and columns, to decide
which remedies apply). The target error is, in order: the ``target_error`` argument
(``--target-error``), the config's ``data.target_error``, 0.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netrx.config import RunConfig, load_config
from netrx.diagnose.bias_variance import (
    BIAS_THRESHOLD,
    VARIANCE_THRESHOLD,
    Diagnosis,
    bias_variance,
)
from netrx.diagnose.prescriptions import Prescription, prescribe
from netrx.errors import RunDirError


@dataclass
class MemberVerdict:
    """A member's diagnosis and prescriptions (``diagnosis`` is None when it diverged or
    has no dev error; ``note`` says why)."""

    member: int
    best: bool
    diagnosis: Diagnosis | None
    prescriptions: list[Prescription]
    note: str = ""


@dataclass
class RunVerdict:
    run_dir: Path
    config: RunConfig
    task: str
    target_error: float
    members: list[MemberVerdict]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise RunDirError(f"cannot read {path}: {e}") from None


def diagnose_run(run_dir: str | os.PathLike, *, target_error: float | None = None,
                 all_members: bool = False, bias_threshold: float = BIAS_THRESHOLD,
                 variance_threshold: float = VARIANCE_THRESHOLD) -> RunVerdict:
    """The verdict for the run's best member (and every member with ``all_members``)."""
    d = Path(run_dir)
    if not d.is_dir():
        raise RunDirError(f"run directory {str(d)!r} does not exist; give a finished run "
                          "such as runs/<name> (see `netrx train`)")
    for f in ("summary.json", "config.yaml"):
        if not (d / f).is_file():
            raise RunDirError(f"{d} is not a finished netrx run directory: {f} is missing")
    summary = _read_json(d / "summary.json")
    cfg = load_config(d / "config.yaml")
    pre = _read_json(d / "preprocess.json") if (d / "preprocess.json").is_file() else {}
    shape = tuple(pre.get("input_shape") or ()) or None
    columns = tuple(pre.get("columns") or ()) or None
    target = cfg.data.target_error if target_error is None else float(target_error)
    task = str(summary.get("task", "classification"))
    data = summary.get("data") or {}
    # the standard error √(p(1−p)/n) of an error rate: classification only
    sizes = {f"n_{part}": data.get(f"n_{part}") or None for part in ("train", "dev", "test")} \
        if task == "classification" else {}
    best = int(summary.get("best_member", 0))
    rows = summary.get("member_table") or []
    best_row = dict(summary.get("best") or {})
    if not all_members:
        rows = [best_row]
    verdicts = []
    for row in rows:
        k = int(row.get("member", best))
        test = best_row.get("test_error") if k == best else None
        train, dev = row.get("train_error"), row.get("dev_error")
        if row.get("status") == "diverged" or train is None:
            verdicts.append(MemberVerdict(k, k == best, None, [],
                                          "diverged: no verdict (lower the learning rate)"))
            continue
        if dev is None:
            verdicts.append(MemberVerdict(k, k == best, None, [],
                                          "no dev error: the variance needs a dev set "
                                          "(set data.dev > 0)"))
            continue
        diag = bias_variance(train, dev, test, target_error=target,
                             bias_threshold=bias_threshold,
                             variance_threshold=variance_threshold, **sizes)
        verdicts.append(MemberVerdict(k, k == best, diag,
                                      prescribe(diag, cfg, input_shape=shape, columns=columns)))
    return RunVerdict(d, cfg, task, target, verdicts)
