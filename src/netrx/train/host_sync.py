"""Checking that a training step makes no host synchronisation.

On a GPU every host read of a device tensor (``.item()``, ``float(t)``, ``.cpu()``, a
Python ``if`` on a tensor) and every upload of a Python value (``torch.tensor(0.9)``)
waits for the stream to drain: a step that does one per update runs at the speed of the
round trip. :class:`HostSyncCheck` watches one whole step, the second of a fit (the first
builds what later steps reuse), and records what happened there:

- on CUDA with ``torch.cuda.set_sync_debug_mode("error")``, which raises on any
  synchronising call;
- on the CPU, where nothing synchronises, by trapping the calls that would: the host reads
  of :data:`TRAPPED` and ``torch.tensor`` / ``torch.as_tensor`` of Python values.

It then stops the fit (the rest of the epoch is not needed). Used by the test suite and by
``bench/gpu.py``.
"""

from __future__ import annotations

from typing import Any

import torch

from netrx.train.callbacks import Callback, FitState

#: Tensor methods that read a device tensor on the host
TRAPPED = ("item", "tolist", "numpy", "__float__", "__int__", "__bool__", "cpu")


class HostSync(RuntimeError):
    """A host read or scalar upload inside a training step."""


class HostSyncCheck(Callback):
    """Watch the second training step; ``found`` holds the first sync seen (None: none)."""

    def __init__(self) -> None:
        self.steps = 0
        self.found: str | None = None
        self._undo: list[tuple[Any, str, Any]] = []
        self._cuda = False

    def _arm(self, device: torch.device) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.set_sync_debug_mode("error")
            self._cuda = True
            return

        def trap(what: str) -> Any:
            def trapped(*args: Any, **kwargs: Any) -> Any:
                raise HostSync(f"host sync in a training step: {what}")
            return trapped

        for name in TRAPPED:
            self._undo.append((torch.Tensor, name, getattr(torch.Tensor, name)))
            setattr(torch.Tensor, name, trap(f"Tensor.{name}"))
        for name in ("tensor", "as_tensor"):
            real = getattr(torch, name)

            def guarded(data: Any, *args: Any, _real: Any = real, _name: str = name,
                        **kwargs: Any) -> Any:
                if not isinstance(data, torch.Tensor):
                    raise HostSync(f"torch.{_name}() of a Python value in a training step")
                return _real(data, *args, **kwargs)

            self._undo.append((torch, name, real))
            setattr(torch, name, guarded)

    def disarm(self) -> None:
        """Undo the traps (also after an error inside the step)."""
        if self._cuda:
            torch.cuda.set_sync_debug_mode(0)
            self._cuda = False
        while self._undo:
            owner, name, real = self._undo.pop()
            setattr(owner, name, real)

    def on_step_end(self, state: FitState) -> None:
        self.steps += 1
        if self.steps == 1:
            self._arm(state.population.device)
        elif self.steps == 2:
            self.disarm()
            state.stop = state.stop_now = True

    def on_fit_end(self, state: FitState) -> None:
        self.disarm()


def check_step(fit_call: Any) -> str | None:
    """Run ``fit_call(check)`` (a fit with ``check`` among its callbacks) and return the
    host sync its second step made, or None."""
    check = HostSyncCheck()
    try:
        fit_call(check)
    except HostSync as e:
        return str(e)
    except RuntimeError as e:  # CUDA's sync debug mode raises a RuntimeError
        if "synchroniz" in str(e).lower():
            return f"host sync in a training step: {str(e).splitlines()[0]}"
        raise
    finally:
        check.disarm()
    if check.steps < 2:
        return "the fit made fewer than two steps; nothing was checked"
    return None
