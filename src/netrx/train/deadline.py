"""Wall-clock budgets: parse ``15m`` / ``90s`` / ``1h30m`` and stop a fit on time."""

from __future__ import annotations

import re
import time

from netrx.errors import ConfigError
from netrx.train.callbacks import Callback, FitState

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(h|m|s)")


def parse_duration(text: str | float | int) -> float:
    """Seconds in ``"15m"``, ``"90s"``, ``"1h30m"`` or a plain number of seconds."""
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        s = str(text).strip().lower()
        try:
            seconds = float(s)
        except ValueError:
            parts = _PART.findall(s)
            if not parts or _PART.sub("", s).strip():
                raise ConfigError(f"cannot read duration {text!r}: write seconds or a "
                                  "duration such as 300s, 5m or 1h30m") from None
            unit = {"h": 3600.0, "m": 60.0, "s": 1.0}
            seconds = sum(float(v) * unit[u] for v, u in parts)
    if seconds <= 0:
        raise ConfigError(f"duration {text!r} must be positive")
    return seconds


class Budget:
    """A deadline on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    @property
    def remaining(self) -> float:
        return max(0.0, self.seconds - self.elapsed)

    def expired(self) -> bool:
        return self.remaining <= 0.0

    def sub(self, fraction: float, floor: float = 0.0) -> Budget:
        """A child budget of ``fraction`` of what remains (at least ``floor`` seconds)."""
        return Budget(max(floor, self.remaining * fraction))


class Deadline(Callback):
    """Stop the fit after the current step once ``budget`` has run out. The check is a
    clock read per step, no device synchronisation."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.hit = False

    def on_step_end(self, state: FitState) -> None:
        if self.budget.expired():
            self.hit = True
            state.stop = True
            state.stop_now = True
