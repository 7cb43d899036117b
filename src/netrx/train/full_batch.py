"""``fit_full_batch``: train a population with L-BFGS on the whole training set.

One "epoch" is one L-BFGS iteration (a direction from the two-loop recursion and a
line search, i.e. a few full-batch function evaluations). All K members are evaluated
together (vmap); each keeps its own history, step and convergence flag
(:class:`~netrx.optim.lbfgs.LBFGS`). A member that has converged, stalled, stopped early
or diverged stops moving; the fit ends when no member moves any more.

The full-batch loss must be a deterministic function of the parameters for a line search
to make sense: dropout, DropConnect and augmentation are refused (the loss is evaluated
twice at the start to check). The loss is evaluated in chunks of max(batch_size, 4096)
examples; batch norm uses the statistics of each chunk (of the whole training set when it
fits in one) and its running averages move with every evaluation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from netrx.errors import ConfigError, DivergedError
from netrx.optim.lbfgs import LBFGS
from netrx.population.population import Population, training_scope
from netrx.train.callbacks import Callback, FitState, History
from netrx.train.loop import (
    _arrays,
    _check_outputs,
    _epoch_log,
    _infer_task,
    _lr_values,
    _to_device,
    evaluate,
)
from netrx.train.losses import Objective, objective_for


class _NoBatches:
    """Checkpoints save the mini-batch generators; full-batch training has none."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...


def _full_batch_loss(pop: Population, X: Tensor, y: Tensor, objective: Objective,
                     chunk: int, penalty: Callable[[dict[str, Tensor]], Tensor] | None):
    """x [K, P] ↦ (f [K], ∇f [K, P]): the mean training loss of every member (+ penalty)."""
    n = X.shape[0]
    loss_fn = objective.fit_loss

    def fun(x: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            pop.flat.copy_(x)
        pop.flat_grad.zero_()
        total = torch.zeros(pop.members, device=pop.device, dtype=pop.dtype)
        with torch.enable_grad():
            for i in range(0, n, chunk):
                xb, yb = X[i:i + chunk], y[i:i + chunk]
                out = pop.forward(xb, train=True, shared=True)
                part = loss_fn(out, yb.unsqueeze(0).expand(pop.members, *yb.shape))
                part = part * (xb.shape[0] / n)
                if penalty is not None and i == 0:
                    part = part + penalty(pop.params)
                part.sum().backward()
                total += part.detach()
        return total, pop.flat_grad.clone()

    return fun


@training_scope()
def fit_full_batch(pop: Population, train: Any, dev: Any = None, *, optimizer: LBFGS,
                   loss: str | Objective = "auto", epochs: int = 100, batch_size: int = 4096,
                   callbacks: Sequence[Callback] = (), progress: bool = True,
                   task: str | None = None, lr: Any = None, resume: Any = None,
                   penalty: Callable[[dict[str, Tensor]], Tensor] | None = None,
                   augment: Callable[[Tensor], Tensor] | None = None) -> History:
    """Minimise each member's full-batch training loss with L-BFGS, ``epochs`` iterations.

    The arguments mean what they mean for :func:`netrx.fit`; ``batch_size`` only chunks
    the full-batch evaluation (at least 4096 examples per chunk; the loss and gradient
    are those of the whole training set).
    """
    from netrx.train.progress import ProgressBar

    if augment is not None:
        raise ConfigError("L-BFGS minimises a fixed full-batch loss; turn augmentation off "
                          "or use a first-order optimizer")
    if int(epochs) < 0:
        raise ConfigError(f"epochs={epochs!r} must be ≥ 0")
    X_train, y_train = _arrays(train, "training")
    task = task or _infer_task(y_train)
    n_classes = int(torch.as_tensor(y_train).max()) + 1 if task == "classification" else 0
    objective = loss if isinstance(loss, Objective) else objective_for(loss, task, n_classes)
    K = pop.members
    Xt, yt = _to_device(X_train, y_train, pop, objective)
    has_dev = dev is not None
    if has_dev:
        Xd, yd = _to_device(*_arrays(dev, "dev"), pop, objective)
    _check_outputs(pop, Xt, objective, n_classes)
    fun = _full_batch_loss(pop, Xt, yt, objective, max(int(batch_size), 4096), penalty)

    x = pop.flat.detach().clone()
    with torch.random.fork_rng(devices=[pop.device] if pop.device.type == "cuda" else []):
        torch.manual_seed(pop.seeds[0])
        opt_state = optimizer.init(fun, x)
        again, _ = fun(x)
    if not torch.allclose(again, opt_state.f, rtol=1e-5, atol=0.0, equal_nan=True):
        raise ConfigError("the full-batch loss changes between two evaluations at the same "
                          "weights (dropout or DropConnect?); L-BFGS needs a deterministic "
                          "loss: set the dropout rates to 0 or use a first-order optimizer")
    history = History()
    all_callbacks: list[Callback] = [history, *callbacks]
    if progress:
        all_callbacks.append(ProgressBar("L-BFGS"))
    state = FitState(pop, optimizer, opt_state, int(epochs))
    state.batches, state.callbacks = _NoBatches(), list(all_callbacks)
    if resume is not None:
        from netrx.train.checkpoint import load_checkpoint

        load_checkpoint(resume, state)
        x = pop.flat.detach().clone()
    lr_log = _lr_values(lr, K) if not callable(lr) else None
    for cb in all_callbacks:
        cb.on_fit_start(state)
    while state.epoch < state.epochs and not state.stop:
        t0 = time.perf_counter()
        before = x.clone()
        state.opt_state = optimizer.step(fun, x, state.opt_state, active=pop.active)
        with torch.no_grad():
            pop.flat.copy_(x)
            pop.diverged |= ~torch.isfinite(state.opt_state.f)
            pop.stopped |= state.opt_state.done & ~pop.diverged
        state.last_update = x - before
        state.step += 1
        for cb in all_callbacks:
            cb.on_step_end(state)
        state.epoch += 1
        _, train_err = evaluate(pop, Xt, yt, objective)
        lr_now = _lr_values(lr(state), K) if callable(lr) else lr_log
        log = _epoch_log(state, state.opt_state.f, train_err, lr_now,
                         evaluate(pop, Xd, yd, objective) if has_dev else None,
                         time.perf_counter() - t0)
        for cb in all_callbacks:
            cb.on_epoch_end(state, log)
        if not bool(pop.active.any()):
            state.stop = True
    for cb in all_callbacks:
        cb.on_fit_end(state)
    for cb in all_callbacks:  # after the final checkpoint: restore-best
        cb.on_fit_exit(state)
    if K and bool(pop.diverged.all()):
        raise DivergedError(f"every member diverged (loss became NaN or inf) within "
                            f"{state.epoch} L-BFGS iterations; lower lr or normalise the inputs")
    history.objective = objective
    return history
