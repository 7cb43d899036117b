"""``fit``: mini-batches → per-member loss → one backward → optimizer → callbacks.

Every random draw of a step (augmentation, dropout and DropConnect masks) comes from the
member's own stream (:mod:`netrx.population.streams`), whose step counter the training
forward pass advances on the device, so member k trains as the single run with its seed
would."""

from __future__ import annotations

import time
import types
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from netrx.data.batches import MiniBatches
from netrx.errors import ConfigError, DataError, DivergedError
from netrx.optim.base import Transform
from netrx.optim.fused import fused_step, masked_add_
from netrx.population.population import Population, training_scope
from netrx.population.streams import drawing
from netrx.train.callbacks import Callback, EpochLog, FitState, History
from netrx.train.losses import Objective, objective_for, target_dtype


def _arrays(data: Any, name: str) -> tuple[np.ndarray | Tensor, np.ndarray | Tensor]:
    if data is None:
        raise DataError(f"no {name} data given")
    if hasattr(data, "X") and hasattr(data, "y"):
        return data.X, data.y
    if isinstance(data, Sequence) and len(data) == 2:
        return data[0], data[1]
    raise DataError(f"{name} data must be a Split (with .X, .y) or a tuple (X, y), "
                    f"got {type(data).__name__}")


def _infer_task(y: np.ndarray | Tensor) -> str:
    y = torch.as_tensor(y)
    return "regression" if y.is_floating_point() else "classification"


def _to_device(X, y, pop: Population, objective: Objective) -> tuple[Tensor, Tensor]:
    X = torch.as_tensor(np.asarray(X) if not isinstance(X, Tensor) else X)
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, Tensor) else y)
    if X.shape[0] != y.shape[0]:
        raise DataError(f"features have {X.shape[0]} rows but labels have {y.shape[0]}")
    if X.is_floating_point() and not torch.isfinite(X).all():
        raise DataError(f"features contain {int((~torch.isfinite(X)).sum())} NaN/inf values")
    return (X.to(pop.device, pop.dtype), y.to(pop.device, target_dtype(objective)))


def _lr_values(optimizer_lr: Any, K: int) -> np.ndarray | None:
    if optimizer_lr is None:
        return None
    if isinstance(optimizer_lr, Tensor):
        return optimizer_lr.detach().cpu().double().numpy().reshape(-1).repeat(
            K if optimizer_lr.numel() == 1 else 1)
    return np.full(K, float(optimizer_lr))


@torch.no_grad()
def evaluate(pop: Population, X: Tensor, y: Tensor, objective: Objective,
             batch_size: int = 4096) -> tuple[Tensor, Tensor]:
    """Eval-mode (loss, error) per member on a shared data set: two [K] tensors."""
    n = X.shape[0]
    loss = torch.zeros(pop.members, device=pop.device, dtype=pop.dtype)
    err = torch.zeros_like(loss)
    for i in range(0, n, batch_size):
        xb, yb = X[i:i + batch_size], y[i:i + batch_size]
        out = pop.forward(xb, train=False, shared=True)
        yk = yb.unsqueeze(0).expand(pop.members, *yb.shape)
        w = xb.shape[0] / n
        loss += objective.loss(out, yk) * w
        err += objective.error(out, yk) * w
    return loss, err


def fit(model: nn.Module | Population, train: Any, dev: Any = None, *,
        optimizer: Transform | None = None, loss: str | Objective = "auto", epochs: int = 10,
        batch_size: int = 128, members: int = 1, seed: int | Sequence[int] = 0,
        device: str = "auto", callbacks: Sequence[Callback] = (), progress: bool = True,
        task: str | None = None, lr: Any = None, resume: Any = None,
        penalty: Callable[[dict[str, Tensor]], Tensor] | None = None,
        augment: Callable[[Tensor], Tensor] | None = None, compile: bool = False) -> History:
    """Train a population of ``members`` copies of ``model`` (or a given Population).

    Args:
        model: any ``torch.nn.Module`` (copied; member k is initialised from ``seed + k``)
            or a :class:`~netrx.population.population.Population`.
        train, dev: ``(X, y)`` tuples or :class:`~netrx.data.Split` objects (NumPy or torch).
        optimizer: a :class:`~netrx.optim.Transform`; default ``adam(1e-3)``.
        loss: ``auto`` (cross-entropy for classes, MSE for real targets), ``cross_entropy``,
            ``bce`` (two classes, one logit) or ``mse``; or an
            :class:`~netrx.train.losses.Objective` (e.g. ``with_label_smoothing(...)``).
        lr: the learning rate(s) to log in the history: a float, a [K] tensor, or a
            callable ``lr(state) -> [K]`` read at the end of every epoch (schedules).
        resume: a checkpoint file written by :class:`~netrx.train.checkpoint.Checkpoint`.
        penalty: ``penalty(params) -> [K]`` added to every member's mini-batch loss
            (e.g. λ/2m Σ‖W‖²_F from :mod:`netrx.regularize.penalties`); ``params`` are the
            population's [K, ...] views. It enters the gradient and the logged loss.
        augment: ``augment(x) -> x`` applied to each training batch [K, B, ...] on the
            device (never to dev or test data).
        compile: run the step's forward pass and loss (and so their backward) through
            ``torch.compile`` (:func:`compiled_loss`); on CUDA with CUDA graphs. Opt-in:
            measured slower than the eager step on a 2-core CPU (``python
            bench/population.py --compile``).

    Returns:
        The :class:`History`; ``history.population`` holds the trained members.
    """
    from netrx.optim.aliases import adam
    from netrx.train.progress import ProgressBar

    if int(epochs) < 0:
        raise ConfigError(f"epochs={epochs!r} must be ≥ 0")
    X_train, y_train = _arrays(train, "training")
    task = task or _infer_task(y_train)
    n_classes = int(torch.as_tensor(np.asarray(y_train)).max()) + 1 if task == "classification" \
        else 0
    objective = loss if isinstance(loss, Objective) else objective_for(loss, task, n_classes)
    pop = model if isinstance(model, Population) else Population(
        model, members, seed=seed, device=device)
    K = pop.members
    Xt, yt = _to_device(X_train, y_train, pop, objective)
    if task == "classification" and int(yt.min()) < 0:
        raise DataError("class labels must be 0..C−1 integers; found negative labels")
    has_dev = dev is not None
    if has_dev:
        Xd, yd = _to_device(*_arrays(dev, "dev"), pop, objective)
    _check_outputs(pop, Xt, objective, n_classes)

    optimizer = optimizer or adam(1e-3)
    opt_state = optimizer.init({"flat": pop.flat})
    batches = MiniBatches(Xt.shape[0], batch_size, pop.seeds, pop.device)
    history = History()
    all_callbacks: list[Callback] = [history, *callbacks]
    if progress:
        all_callbacks.append(ProgressBar())
    state = FitState(pop, optimizer, opt_state, int(epochs))
    state.batches, state.callbacks = batches, list(all_callbacks)
    lr_log = None if callable(lr) else _lr_values(lr, K)

    # the common optimizers update θ in a few in-place passes (netrx.optim.fused); any other
    # chain computes its update u, copied to ``step`` (reused: no [K, P] allocation per step)
    apply = fused_step(optimizer)
    step = torch.empty_like(pop.flat) if apply is None else None
    saved = {n: torch.empty_like(b) for n, b in pop.buffers.items()}
    step_loss = _step_loss(pop, objective, penalty)
    if compile:
        step_loss = compiled_loss(step_loss, pop.device)
    rng_devices = [pop.device] if pop.device.type == "cuda" else []
    with training_scope(), torch.random.fork_rng(devices=rng_devices):
        # netrx's own draws use the members' streams; this seeds only what a user's module
        # draws from torch's generator (e.g. torch.nn.Dropout), for repeatable runs
        torch.manual_seed(pop.seeds[0])
        if resume is not None:
            from netrx.train.checkpoint import load_checkpoint

            load_checkpoint(resume, state)
        for cb in all_callbacks:
            cb.on_fit_start(state)
        while state.epoch < state.epochs and not state.stop:
            t0 = time.perf_counter()
            sum_loss = torch.zeros(K, device=pop.device, dtype=pop.dtype)
            sum_err = torch.zeros_like(sum_loss)
            seen = torch.zeros_like(sum_loss)  # examples each member trained on
            # the forward pass updates buffers (batch-norm statistics) in place: those of a
            # member that no longer trains are put back after it, when there is one
            freeze = _any_inactive(pop)
            for idx in batches.epoch():
                x, y = Xt[idx], yt[idx]
                if augment is not None:
                    with drawing(pop.streams.key()):  # the key the forward pass draws from
                        x = augment(x)
                if freeze:
                    for n, b in pop.buffers.items():
                        saved[n].copy_(b)
                out, per_member = step_loss(x, y)
                with torch.no_grad():
                    pop.diverged |= ~torch.isfinite(per_member)
                    active = pop.active
                    if freeze:
                        _restore_inactive(pop.buffers, saved, active)
                masked = torch.where(active, per_member, 0)
                with torch.no_grad():
                    n = idx.shape[1]
                    sum_loss.add_(masked.detach(), alpha=n)
                    sum_err.add_(torch.where(active, objective.error(out.detach(), y), 0), alpha=n)
                    seen.add_(active, alpha=n)
                pop.flat_grad.zero_()
                masked.sum().backward()
                with torch.no_grad():
                    if apply is not None:
                        applied, state.opt_state = apply(
                            {"flat": pop.flat_grad}, state.opt_state, {"flat": pop.flat}, active)
                        state.last_update = applied["flat"]
                    else:
                        updates, state.opt_state = optimizer.update(
                            {"flat": pop.flat_grad}, state.opt_state, {"flat": pop.flat})
                        masked_add_({"flat": pop.flat}, {"flat": step.copy_(updates["flat"])},
                                    active)
                        state.last_update = step
                state.step += 1
                for cb in all_callbacks:
                    cb.on_step_end(state)
                if state.stop_now:  # e.g. a wall-clock Deadline
                    break
            state.epoch += 1
            lr_now = _lr_values(lr(state), K) if callable(lr) else lr_log
            log = _epoch_log(state, sum_loss / seen, sum_err / seen, lr_now,
                             evaluate(pop, Xd, yd, objective) if has_dev else None,
                             time.perf_counter() - t0)
            for cb in all_callbacks:
                cb.on_epoch_end(state, log)
        for cb in all_callbacks:
            cb.on_fit_end(state)
        for cb in all_callbacks:  # after the final checkpoint: restore-best
            cb.on_fit_exit(state)
    if K and bool(pop.diverged.all()):
        raise DivergedError(
            f"every member diverged (loss became NaN or inf) within {state.epoch} epochs; "
            "lower the learning rate or normalise the inputs")
    history.objective = objective
    return history


def _step_loss(pop: Population, objective: Objective,
               penalty: Callable[[dict[str, Tensor]], Tensor] | None,
               ) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """The step's differentiable part: ``(x, y) -> (outputs [K, B, ...], loss [K])``,
    J_k = L_k(f_k(x_k), y_k) + penalty_k(θ_k)."""

    def step_loss(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        out = pop.forward(x, train=True)
        per_member = objective.fit_loss(out, y)
        if penalty is not None:
            per_member = per_member + penalty(pop.params)
        return out, per_member

    return step_loss


def compiled_loss(step_loss: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]],
                  device: torch.device) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """``step_loss`` through ``torch.compile`` with static shapes (the last, shorter batch
    of an epoch is a second graph). The members' streams are traced into the graph, so the
    compiled step draws the eager step's masks.

    On CUDA the mode is ``reduce-overhead``: the compiled graphs are replayed as CUDA graphs
    (torch runs plain kernels where a graph cannot be captured). On CPU, inductor's explicit
    SIMD code is off (``cpp.simdlen = 1``; the C compiler still vectorizes its loops): in
    torch 2.13 it computes int64 index arithmetic wrongly — ``torch.compile(lambda z: z +
    torch.arange(21) * -7046029254386353131)`` differs from eager in 5 of 21 elements — and
    the members' hash (a Weyl sequence ``key + j·γ``) then draws wrong masks or corrupts the
    heap. The optimizer is not compiled: the common ones are already one or two fused
    passes (:mod:`netrx.optim.fused`)."""
    # a code object of its own: dynamo caches compiled graphs per code object, and every fit
    # builds step_loss over its own population; sharing one code object, the ninth fit of a
    # process would hit torch's recompile limit and silently run eager
    own = types.FunctionType(step_loss.__code__.replace(), step_loss.__globals__,
                             step_loss.__name__, step_loss.__defaults__, step_loss.__closure__)
    if torch.device(device).type == "cuda":
        return torch.compile(own, dynamic=False, mode="reduce-overhead")
    return torch.compile(own, dynamic=False, options={"cpp.simdlen": 1})


def _any_inactive(pop: Population) -> bool:
    """Whether a member with buffers has stopped or diverged: read on the host once an
    epoch (early stopping and the tuner stop members between epochs). A member that
    diverges within the epoch has its updates masked at once; its buffers are frozen from
    the next epoch on (they are its own and nothing reads a diverged member's statistics)."""
    return bool(pop.buffers) and not bool(pop.active.all())


def _restore_inactive(buffers: dict[str, Tensor], saved: dict[str, Tensor],
                      active: Tensor) -> None:
    """Members that no longer train keep their buffers (batch-norm running statistics)."""
    for name, b in buffers.items():
        torch.where(active.view(-1, *[1] * (b.dim() - 1)), b, saved[name], out=b)


def _epoch_log(state: FitState, train_loss: Tensor, train_err: Tensor, lr_log, dev, seconds):
    """The epoch's log; a member that did not train in it (stopped before it) has NaN train
    loss and error (0/0), a diverged member NaN everywhere."""
    pop = state.population
    diverged = pop.diverged.cpu().numpy()
    stopped = pop.stopped.cpu().numpy()
    status = ["diverged" if d else "stopped" if s else "training"
              for d, s in zip(diverged, stopped)]
    nan = np.full(pop.members, np.nan)

    def arr(t: Tensor) -> np.ndarray:
        a = t.detach().double().cpu().numpy()
        return np.where(diverged, nan, a)

    return EpochLog(
        epoch=state.epoch, train_loss=arr(train_loss), train_error=arr(train_err),
        dev_loss=arr(dev[0]) if dev else None, dev_error=arr(dev[1]) if dev else None,
        lr=lr_log, status=status, seconds=seconds)


def _check_outputs(pop: Population, X: Tensor, objective: Objective, n_classes: int) -> None:
    want = objective.n_outputs(n_classes)
    try:
        with torch.no_grad():
            out = pop.forward(X[:2], train=False, shared=True)
    except RuntimeError as e:
        raise ConfigError(f"the model cannot take inputs of shape {tuple(X.shape[1:])}: {e}") \
            from None
    if out.shape[-1] != want or out.dim() != 3:
        raise ConfigError(f"the model outputs shape {tuple(out.shape[2:])} per example but the "
                          f"{objective.name} loss needs {want} output(s); "
                          f"set the output layer to {want} units")
