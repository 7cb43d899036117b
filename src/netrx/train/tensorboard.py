"""A callback that writes every member's scalars to TensorBoard event files.

Needs the optional ``tensorboard`` package (``pip install netrx[tensorboard]``); it is
imported when the callback is created, never by ``import netrx``. Each epoch, member k
gets, under ``member_kk/``: ``train_loss``, ``train_error``, ``dev_loss``, ``dev_error``
(when there is a dev set), ``lr`` (when known), ``grad_norm`` (‖∇θ‖₂ of the epoch's last
mini-batch over all parameters) and ``grad_norm/<parameter>`` per parameter tensor, while
the member trains. The x-axis is the epoch. Diverged members' NaN values are skipped.
One [K, n_tensors + 1] tensor of norms moves to the CPU per epoch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netrx.errors import NetrxError
from netrx.train.callbacks import Callback, EpochLog, FitState

SCALARS = ("train_loss", "train_error", "dev_loss", "dev_error", "lr")


def summary_writer_class() -> Any:
    """``torch.utils.tensorboard.SummaryWriter``, or a NetrxError saying what to install."""
    try:
        import tensorboard  # noqa: F401  (torch's writer needs it)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise NetrxError("TensorBoard logging needs the tensorboard package: "
                         "pip install netrx[tensorboard]") from None
    return SummaryWriter


class TensorBoard(Callback):
    """Log per-member scalars to ``log_dir`` (view with ``tensorboard --logdir DIR``).

    Args:
        log_dir: directory of the event files (created if missing).
        grad_norms: also log ‖∇θ‖₂ per member, overall and per parameter tensor.
        flush_secs: how often the writer flushes to disk.
    """

    def __init__(self, log_dir: str | os.PathLike, *, grad_norms: bool = True,
                 flush_secs: int = 30) -> None:
        self._writer_class = summary_writer_class()
        self.log_dir = Path(log_dir)
        self.grad_norms = grad_norms
        self.flush_secs = int(flush_secs)
        self.writer: Any = None

    def on_fit_start(self, state: FitState) -> None:
        if self.writer is None:
            self.writer = self._writer_class(log_dir=str(self.log_dir),
                                             flush_secs=self.flush_secs)

    def _norms(self, state: FitState) -> tuple[list[str], np.ndarray]:
        pop = state.population
        g = pop.flat_grad
        names = list(pop.offsets)
        with torch.no_grad():
            parts = [g.norm(dim=1)] + [g[:, a:b].norm(dim=1) for a, b in pop.offsets.values()]
            norms = torch.stack(parts, dim=1).double().cpu().numpy()
        return ["grad_norm"] + [f"grad_norm/{n}" for n in names], norms

    def on_epoch_end(self, state: FitState, log: EpochLog) -> None:
        if self.writer is None:
            self.on_fit_start(state)
        columns: dict[str, np.ndarray] = {}
        for key in SCALARS:
            value = log.lr if key == "lr" else log.get(key)
            if value is not None:
                columns[key] = np.asarray(value, dtype=float).reshape(-1)
        if self.grad_norms and state.step > 0:
            names, norms = self._norms(state)
            columns.update({n: norms[:, j] for j, n in enumerate(names)})
        K = state.population.members
        width = max(2, len(str(K - 1)))
        for k in range(K):
            for key, values in columns.items():
                if key.startswith("grad_norm") and log.status[k] != "training":
                    continue  # a stopped or diverged member gets no gradient
                v = float(values[k] if len(values) == K else values[0])
                if np.isfinite(v):
                    self.writer.add_scalar(f"member_{k:0{width}d}/{key}", v, log.epoch)

    def on_fit_end(self, state: FitState) -> None:
        self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
            self.writer = None
