"""A rich progress bar with live metrics (epoch, best member's dev error, members left)."""

from __future__ import annotations

from typing import Any

import numpy as np

from netrx.train.callbacks import Callback, EpochLog, FitState


class ProgressBar(Callback):
    """Shows epochs done, seconds left, and the best member's train loss and dev error."""

    def __init__(self, description: str = "training", console: Any = None) -> None:
        self.description, self.console = description, console
        self._progress = None
        self._task = None

    def on_fit_start(self, state: FitState) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.table import Column

        # the bar, the epoch and the time left keep their width; the metrics take what is
        # left of the line and end in "…" on a narrow terminal (80 columns)
        metrics = Column(no_wrap=True, overflow="ellipsis", ratio=1)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(bar_width=20),
            MofNCompleteColumn(), TextColumn("epochs"), TimeElapsedColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[metrics]}", table_column=metrics),
            transient=False, expand=True, console=self.console)
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=state.epochs,
                                             completed=state.epoch, metrics="")

    def on_epoch_end(self, state: FitState, log: EpochLog) -> None:
        if self._progress is None:
            return
        loss = log.train_loss
        parts = []
        if np.isfinite(loss).any():
            parts.append(f"train loss {np.nanmin(loss):.4f}")
        if log.dev_error is not None and np.isfinite(log.dev_error).any():
            parts.append(f"best dev error {np.nanmin(log.dev_error):.4f}")
        n_active = sum(s == "training" for s in log.status)
        if len(log.status) > 1:  # members that ran every epoch are done, not training
            word = "done" if state.epoch >= state.epochs else "training"
            parts.append(f"{n_active}/{len(log.status)} members {word}")
        self._progress.update(self._task, completed=state.epoch, metrics=" · ".join(parts))

    def on_fit_end(self, state: FitState) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
