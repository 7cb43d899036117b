"""The live table of the best trials (rich), for ``netrx tune``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    import optuna

    from netrx.tune.search import Engine
    from netrx.tune.space import Space


def _fmt(v: Any) -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def best_table(rows: list[dict[str, Any]], space: Space, *, title: str, top: int = 10) -> Table:
    """The ``top`` completed trials by value, with their searched keys."""
    done = sorted((r for r in rows if r.get("state") == "COMPLETE" and r.get("value") is not None),
                  key=lambda r: r["value"])[:top]
    table = Table(title=title, title_justify="left")
    for col in ("rank", "trial", "value", "epochs", *[p.key for p in space]):
        table.add_column(col, justify="right", no_wrap=True)
    for i, r in enumerate(done, 1):
        table.add_row(str(i), str(r["number"]), _fmt(r["value"]), _fmt(r.get("epochs")),
                      *[_fmt(r.get(p.key)) for p in space])
    return table


def _counts(rows: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    return ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) or "no trial yet"


class LiveTable:
    """A rich Live display refreshed at most every ``every`` seconds."""

    def __init__(self, console: Console, space: Space, *, every: float = 0.5) -> None:
        self.console, self.space, self.every = console, space, every
        self.live = Live(console=console, auto_refresh=False, transient=True)
        self._last = 0.0
        self.t0 = time.monotonic()

    def __enter__(self) -> LiveTable:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)

    def _show(self, rows: list[dict[str, Any]], extra: str = "") -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        head = Text(f"{_counts(rows)}{extra} — {now - self.t0:.0f} s")
        self.live.update(Group(head, best_table(rows, self.space, title="best trials")),
                         refresh=True)

    def from_engine(self, engine: Engine) -> None:
        rows = [{"number": f.number, "state": f.state, "value": f.value, "epochs": f.epochs,
                 **f.values} for f in engine.finished]
        running = sum(r is not None for r in engine.slots)
        self._show(rows, f", {running} running in {len(engine.slots)} slots (this worker)")

    def from_study(self, study: optuna.Study) -> None:
        from netrx.tune.exports import trial_rows

        self._show(trial_rows(study, self.space))
