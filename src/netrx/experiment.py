"""Run a :class:`~netrx.config.RunConfig` end to end: data → split → preprocessing fitted on
train → model → population → fit → evaluation → run directory."""

from __future__ import annotations

import inspect
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netrx.config import MEMBER_KEYS, RunConfig, get_path, to_yaml
from netrx.data import Dataset, Preprocessor, Splits, load, split
from netrx.errors import ConfigError
from netrx.evaluation import as_tensors, ensemble_split_error, evaluate_test
from netrx.nn import DropConnect, Dropout, InputDropout, build
from netrx.optim import LBFGS, build_optimizer, current_lr
from netrx.penalties import decoupled_weight_decay, member_hyper, penalty_from_config
from netrx.population import Population
from netrx.schedules import build_schedule
from netrx.train import Checkpoint, EarlyStopping, History, evaluate, fit
from netrx.train.callbacks import write_atomic
from netrx.train.full_batch import fit_full_batch
from netrx.train.losses import Objective, objective_for, with_label_smoothing
from netrx.train.plateau import ReduceLROnPlateau


@dataclass
class Prepared:
    """Data ready to train on: the dataset's metadata, the fitted preprocessing and the
    transformed train/dev/test arrays."""

    dataset: Dataset
    preprocessor: Preprocessor
    splits: Splits
    objective: Objective


@dataclass
class RunResult:
    config: RunConfig
    prepared: Prepared
    history: History
    population: Population
    best: int
    members: list[dict[str, Any]]
    test: dict[str, float]
    seconds: float
    run_dir: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        ds = self.prepared.dataset
        status = self.history.final_status()
        return {
            "name": self.config.name,
            "dataset": ds.name,
            "task": ds.task,
            "classes": list(ds.classes),
            "members": self.config.members,
            "best_member": self.best,
            "best": {**self.members[self.best], **{f"test_{k}": v for k, v in self.test.items()}},
            "diverged_members": [k for k, s in enumerate(status) if s == "diverged"],
            "stopped_members": [k for k, s in enumerate(status) if s == "stopped"],
            "epochs_run": len(self.history.logs),
            "seconds": round(self.seconds, 3),
            "device": str(self.population.device),
            "member_table": self.members,
            "data": {"n_train": len(self.prepared.splits.train.y),
                     "n_dev": len(self.prepared.splits.dev.y),
                     "n_test": len(self.prepared.splits.test.y),
                     "input_shape": list(self.prepared.preprocessor.input_shape_)},
            **self.extras,
            "versions": _versions(),
        }


def _versions() -> dict[str, str]:
    import netrx

    return {"netrx": netrx.__version__, "torch": torch.__version__}


def prepare(cfg: RunConfig) -> Prepared:
    """Load, split (seeded, stratified) and fit the preprocessing on the training set."""
    ds = load(cfg.data.dataset, target=cfg.data.target, task=cfg.data.task)
    splits = split(ds, dev=cfg.data.dev, test=cfg.data.test, seed=cfg.seed)
    pre = Preprocessor(impute=cfg.data.impute).fit(splits.train.X, ds.columns, ds.categorical)
    for part in (splits.train, splits.dev, splits.test):
        part.X = pre.transform(part.X) if len(part.X) else part.X
    objective = objective_for(cfg.train.loss, ds.task, ds.n_classes)
    return Prepared(ds, pre, splits, objective)


def _member_values(value: float | list[float], members: int) -> list[float]:
    return [float(v) for v in value] if isinstance(value, list) else [float(value)] * members


def build_population(cfg: RunConfig, prepared: Prepared) -> Population:
    m = cfg.model
    options: dict[str, Any] = {"activation": m.activation, "init": m.init,
                               "batch_norm": m.batch_norm}
    dropout = _member_values(m.dropout, cfg.members)
    options["dropout"] = max(dropout)
    if m.batch_norm and m.batch_norm_momentum != 0.1:
        options["bn_momentum"] = m.batch_norm_momentum
    layers = {"dropconnect": DropConnect, "input_dropout": InputDropout}
    rates = {key: _member_values(getattr(cfg.regularization, key), cfg.members)
             for key in layers}
    options.update({key: max(v) for key, v in rates.items() if max(v) > 0})
    if m.family == "mlp":
        options["hidden"] = list(m.hidden)
    if m.channels is not None:
        options["channels"] = m.channels
    for key in ("width", "depth"):  # residual families
        if getattr(m, key) is not None:
            options[key] = getattr(m, key)
    if not m.batch_norm:  # off: pass it only to families that have the option
        from netrx.nn import FAMILIES

        builder = FAMILIES.get(m.family)
        if builder is not None and "batch_norm" not in inspect.signature(builder).parameters:
            del options["batch_norm"]
    n_out = prepared.objective.n_outputs(prepared.dataset.n_classes)
    model = build(m.family, prepared.preprocessor.input_shape_, n_out, **options)
    if cfg.transfer.stage is not None:  # a linear classifier on layers 1…stage
        from netrx.transfer import truncate

        model = truncate(model, cfg.transfer.stage, n_out, prepared.preprocessor.input_shape_)
    pop = Population(model, cfg.members, seed=cfg.seed, device=cfg.device)
    set_member_buffers(cfg, pop)
    return pop


def set_member_buffers(cfg: RunConfig, pop: Population) -> None:
    """Set the per-member rates held in buffers (dropout, DropConnect, input dropout) from
    ``cfg`` (one value or one per member; a tuner refilling a slot calls it again)."""
    dropout = _member_values(cfg.model.dropout, pop.members)
    if max(dropout) > 0:
        pop.set_buffer(lambda mod: type(mod) is Dropout, "p", dropout)
    layers = {"dropconnect": DropConnect, "input_dropout": InputDropout}
    for key, layer in layers.items():
        values = _member_values(getattr(cfg.regularization, key), pop.members)
        if max(values) > 0:
            pop.set_buffer(lambda mod, t=layer: isinstance(mod, t), "p", values)


def steps_per_epoch(cfg: RunConfig, n_train: int) -> int:
    """Updates per epoch, ⌈n_train / batch_size⌉ (what epoch-based schedules count)."""
    return max(1, -(-int(n_train) // min(cfg.train.batch_size, max(int(n_train), 1))))


def build_optimizer_for(cfg: RunConfig, pop: Population, n_train: int | None = None):
    """The optimizer of ``cfg`` with per-member tensors, its schedule (epochs counted with
    ``n_train`` examples per epoch) and AdamW's decay mask (weights only). Returns
    ``(optimizer, lr)`` where ``lr(state) -> [K]`` reads each member's current rate."""
    hyper: dict[str, Any] = {}
    for key, value in cfg.optimizer.hyperparameters().items():
        if isinstance(value, list):
            value = torch.tensor(value, dtype=pop.dtype, device=pop.device)
        hyper[key] = value
    spec = cfg.optimizer.schedule
    if cfg.optimizer.name == "lbfgs":
        if spec is not None or cfg.train.reduce_lr_on_plateau is not None:
            raise ConfigError("lbfgs takes no learning-rate schedule nor ReduceLROnPlateau "
                              "(its step comes from the line search); remove them")
        if member_hyper(cfg.regularization.weight_decay, pop) is not None:
            raise ConfigError("regularization.weight_decay is a step-wise decay for "
                              "first-order optimizers; with lbfgs use regularization.l2")
        return build_optimizer("lbfgs", **hyper), hyper.get("lr")
    if spec is not None:
        spe = None if n_train is None else steps_per_epoch(cfg, n_train)
        hyper["lr"] = build_schedule(spec, lr=hyper["lr"], steps_per_epoch=spe)
    wd = member_hyper(cfg.regularization.weight_decay, pop)
    if wd is not None and "weight_decay" in hyper:
        raise ConfigError("weight decay is set twice (optimizer.weight_decay and "
                          "regularization.weight_decay); keep one")
    if cfg.optimizer.name == "adamw":
        hyper["mask"] = {"flat": pop.weight_mask()}
        if wd is not None:  # AdamW's own decoupled decay
            hyper["weight_decay"], wd = wd, None
    optimizer = build_optimizer(cfg.optimizer.name, **hyper)
    if wd is not None:  # decoupled: θ := θ + u − α_t·λ_wd·θ on the weights only
        optimizer = decoupled_weight_decay(optimizer, wd, mask={"flat": pop.weight_mask()})
    if cfg.transfer.init_from is not None:  # 0 on frozen layers, per-layer lr multipliers
        from netrx.transfer import with_lr_multipliers

        optimizer = with_lr_multipliers(optimizer, cfg, pop)
    return optimizer, _current_lr


def _current_lr(state: Any) -> torch.Tensor:
    """Each member's learning rate at its last update (schedule and plateau included)."""
    return current_lr(state.opt_state)


def regularizers_for(cfg: RunConfig, prepared: Prepared, pop: Population,
                     lr: Any) -> dict[str, Any]:
    """``fit`` arguments for ``cfg.regularization`` and ``cfg.augment``: the loss (label
    smoothing), the penalty (L2, L1), the augmentation hook and the constraint callbacks
    (proximal L1, max-norm); m = the number of training examples."""
    from netrx.constraints import constraints_from_config
    from netrx.data.augment import augment_from_config

    n_train = len(prepared.splits.train.y)
    loss: Any = prepared.objective
    smoothing = member_hyper(cfg.regularization.label_smoothing, pop)
    if smoothing is not None:
        loss = with_label_smoothing(loss, smoothing)
    return {"loss": loss, "penalty": penalty_from_config(cfg, n_train, pop),
            "augment": augment_from_config(cfg.augment, prepared.preprocessor.input_shape_, pop),
            "callbacks": constraints_from_config(cfg, n_train, pop, lr)}


def callbacks_for(cfg: RunConfig) -> list[Any]:
    """The callbacks of ``cfg.train``: ReduceLROnPlateau, EarlyStopping, TensorBoard (logging
    to ``<train.tensorboard>/<name>``)."""
    callbacks: list[Any] = []
    if cfg.train.reduce_lr_on_plateau is not None:
        rp = cfg.train.reduce_lr_on_plateau
        callbacks.append(ReduceLROnPlateau(rp.factor, rp.patience, min_lr=rp.min_lr,
                                           monitor=rp.monitor, min_delta=rp.min_delta))
    if cfg.train.early_stopping is not None:
        es = cfg.train.early_stopping
        callbacks.append(EarlyStopping(es.patience, monitor=es.monitor, min_delta=es.min_delta,
                                       restore_best=es.restore_best))
    if cfg.train.tensorboard is not None:  # one sub-directory per run, side by side
        from netrx.train.tensorboard import TensorBoard

        callbacks.append(TensorBoard(Path(cfg.train.tensorboard) / (cfg.name or "run")))
    return callbacks


def default_name(cfg: RunConfig) -> str:
    stem = Path(cfg.data.dataset).stem if cfg.data.dataset else "run"
    return f"{stem}-{cfg.model.family}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def run(cfg: RunConfig, *, progress: bool = True, write: bool = True,
        resume: bool = False, prepared: Prepared | None = None) -> RunResult:
    """Train the configured population and, with ``write``, save ``runs/<name>/``.

    ``prepared`` replaces the data of ``cfg`` (e.g. a subset of the training set for a
    learning curve); by default it is :func:`prepare` ``(cfg)``.

    While training, files go to ``runs/<name>.partial/`` (with a resumable
    checkpoint); the directory is renamed to ``runs/<name>/`` only when complete.
    A :class:`~netrx.errors.NetrxError` removes the partial directory; an
    interruption (Ctrl-C) keeps it so that ``resume=True`` can carry on.
    """
    t0 = time.perf_counter()
    cfg = cfg.model_copy(deep=True)
    if cfg.name is None:
        cfg.name = default_name(cfg)
    final_dir = Path(cfg.out) / cfg.name
    partial = Path(cfg.out) / f"{cfg.name}.partial"
    if write and final_dir.exists():
        raise ConfigError(f"run directory {str(final_dir)!r} already exists; choose another "
                          "--name or remove it")
    if write and partial.exists() and not resume:
        raise ConfigError(f"an interrupted run is in {str(partial)!r}; resume it with --resume "
                          "or remove it")
    prepared = prepare(cfg) if prepared is None else prepared
    if cfg.transfer.init_from is not None:
        from netrx import transfer

        cfg = transfer.resolve(cfg, prepared)  # source architecture, `strategy: auto` plan
    pop = build_population(cfg, prepared)
    if cfg.transfer.init_from is not None:
        transfer.setup_population(cfg, pop)  # source weights, new head, frozen statistics
    optimizer, lr = build_optimizer_for(cfg, pop, n_train=len(prepared.splits.train.y))
    reg = regularizers_for(cfg, prepared, pop, lr)
    callbacks = reg.pop("callbacks") + callbacks_for(cfg)
    polyak = _polyak_for(cfg)
    if polyak is not None:
        callbacks.append(polyak)
    ckpt = partial / "checkpoint.pt"
    resume_from = ckpt if (resume and ckpt.exists()) else None
    if write:
        partial.mkdir(parents=True, exist_ok=True)
        write_atomic(partial / "config.yaml", lambda f: f.write(to_yaml(cfg)), mode="w")
        callbacks.append(Checkpoint(ckpt))
    splits = prepared.splits
    has_dev = len(splits.dev.y) > 0
    try:
        train_fn = fit_full_batch if isinstance(optimizer, LBFGS) else fit
        history = train_fn(pop, splits.train, splits.dev if has_dev else None, optimizer=optimizer,
                      epochs=cfg.train.epochs, batch_size=cfg.train.batch_size,
                      callbacks=callbacks, progress=progress, task=prepared.dataset.task, lr=lr,
                      resume=resume_from, **reg)
    except KeyboardInterrupt:
        raise
    except BaseException:
        if write and not resume:
            shutil.rmtree(partial, ignore_errors=True)
        raise
    if polyak is not None and polyak.averaged is not None:
        use_averaged_weights(pop, polyak, splits.train)
    result = _evaluate(cfg, prepared, history, pop, time.perf_counter() - t0)
    if write:
        from netrx.rundir import write_run

        write_run(result, partial)
        (partial / "checkpoint.pt").unlink(missing_ok=True)
        partial.rename(final_dir)
        result.run_dir = final_dir
    return result


def _polyak_for(cfg: RunConfig) -> Any:
    ens = cfg.train.ensemble
    if ens is None or ens.method != "polyak":
        return None
    from netrx.ensemble import PolyakAveraging

    return PolyakAveraging(ens.beta)


@torch.no_grad()
def use_averaged_weights(pop: Population, polyak: Any, train: Any) -> None:
    """Replace every member's weights by its Polyak average and recompute the batch-norm
    statistics for them on the training inputs."""
    from netrx.ensemble import recompute_batch_norm

    pop.flat.copy_(polyak.averaged)
    recompute_batch_norm(pop, torch.as_tensor(np.asarray(train.X)))


def _evaluate(cfg: RunConfig, prepared: Prepared, history: History, pop: Population,
              seconds: float) -> RunResult:
    """Final eval-mode metrics per member on train and dev; the test set only for the
    member chosen on dev (it is looked at once, for the chosen model)."""
    obj, splits = prepared.objective, prepared.splits
    status = history.final_status() or ["training"] * pop.members
    results: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, part in (("train", splits.train), ("dev", splits.dev)):
        if len(part.y):
            loss, err = evaluate(pop, *as_tensors(part, pop, prepared), obj)
            results[name] = (loss.double().cpu().numpy(), err.double().cpu().numpy())
    lr = _member_values(cfg.optimizer.lr, cfg.members)
    dropout = _member_values(cfg.model.dropout, cfg.members)
    members = []
    varied = {short: v for short, path in MEMBER_KEYS.items() if short not in ("lr", "dropout")
              and isinstance(v := get_path(cfg, path), list)}
    with torch.no_grad():  # fraction of weights that are exactly 0 (L1 proximal makes them)
        zeros = (pop.flat[:, pop.weight_mask()[0].bool()] == 0).double().mean(1).cpu().numpy()
    for k in range(pop.members):
        row: dict[str, Any] = {"member": k, "seed": pop.seeds[k], "status": status[k],
                               "lr": lr[k], "dropout": dropout[k]}
        row.update({short: float(v[k]) for short, v in varied.items()})
        row["zero_weights"] = float(zeros[k])
        for name, (loss, err) in results.items():
            bad = status[k] == "diverged"
            row[f"{name}_loss"] = None if bad else float(loss[k])
            row[f"{name}_error"] = None if bad else float(err[k])
        members.append(row)
    key = "dev_error" if "dev" in results else "train_error"
    ranked = [m for m in members if m.get(key) is not None]
    if not ranked:
        ranked = members
    best = min(ranked, key=lambda m: (m.get(key) if m.get(key) is not None else np.inf))["member"]
    ens = cfg.train.ensemble
    top = None
    extras: dict[str, Any] = {}
    if ens is not None and ens.method == "average":
        ordered = sorted(ranked, key=lambda m: (m[key] if m.get(key) is not None else np.inf,
                                                m["member"]))
        top = [m["member"] for m in ordered[:ens.top or len(ordered)]]
        part = splits.dev if key == "dev_error" else splits.train
        extras.update({"chosen": f"ensemble: mean predictions of members {top}",
                       "ensemble_members": top,
                       f"ensemble_{key}": ensemble_split_error(pop, prepared, part, top)})
    elif ens is not None:
        extras["chosen"] = f"polyak: every member with its EWA weights (β={ens.beta:g})"
    test: dict[str, float] = {}
    if len(splits.test.y):  # the chosen predictor (the ensemble, if any) is the one tested
        tested = evaluate_test(pop, prepared, top if top is not None else [best])
        test = {k: tested[k] for k in ("loss", "error") if tested[k] is not None}
        extras["confusion_matrix"] = tested["confusion"]
    result = RunResult(cfg, prepared, history, pop, best, members, test, seconds)
    result.extras.update({k: v for k, v in extras.items() if v is not None})
    return result
