"""Run a :class:`~netrx.config.RunConfig` end to end: data → split → preprocessing fitted on
train → model → population → fit → evaluation → run directory."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netrx.config import RunConfig, to_yaml
from netrx.data import Dataset, Preprocessor, Splits, load, split
from netrx.errors import ConfigError
from netrx.nn import Dropout, build
from netrx.optim import build_optimizer
from netrx.population import Population
from netrx.train import Checkpoint, EarlyStopping, History, evaluate, fit
from netrx.train.callbacks import write_atomic
from netrx.train.losses import Objective, objective_for, target_dtype


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
    if m.family == "mlp":
        options["hidden"] = list(m.hidden)
    if m.channels is not None:
        options["channels"] = m.channels
    n_out = prepared.objective.n_outputs(prepared.dataset.n_classes)
    model = build(m.family, prepared.preprocessor.input_shape_, n_out, **options)
    pop = Population(model, cfg.members, seed=cfg.seed, device=cfg.device)
    if max(dropout) > 0:
        pop.set_buffer(lambda mod: isinstance(mod, Dropout), "p", dropout)
    return pop


def build_optimizer_for(cfg: RunConfig, pop: Population):
    hyper = {}
    for key, value in cfg.optimizer.hyperparameters().items():
        if isinstance(value, list):
            value = torch.tensor(value, dtype=pop.dtype, device=pop.device)
        hyper[key] = value
    return build_optimizer(cfg.optimizer.name, **hyper), hyper.get("lr")


def default_name(cfg: RunConfig) -> str:
    stem = Path(cfg.data.dataset).stem if cfg.data.dataset else "run"
    return f"{stem}-{cfg.model.family}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def run(cfg: RunConfig, *, progress: bool = True, write: bool = True,
        resume: bool = False) -> RunResult:
    """Train the configured population and, with ``write``, save ``runs/<name>/``.

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
    prepared = prepare(cfg)
    pop = build_population(cfg, prepared)
    optimizer, lr = build_optimizer_for(cfg, pop)
    callbacks = []
    if cfg.train.early_stopping is not None:
        es = cfg.train.early_stopping
        callbacks.append(EarlyStopping(es.patience, monitor=es.monitor, min_delta=es.min_delta,
                                       restore_best=es.restore_best))
    ckpt = partial / "checkpoint.pt"
    resume_from = ckpt if (resume and ckpt.exists()) else None
    if write:
        partial.mkdir(parents=True, exist_ok=True)
        write_atomic(partial / "config.yaml", lambda f: f.write(to_yaml(cfg)), mode="w")
        callbacks.append(Checkpoint(ckpt))
    splits = prepared.splits
    has_dev = len(splits.dev.y) > 0
    try:
        history = fit(pop, splits.train, splits.dev if has_dev else None, optimizer=optimizer,
                      loss=prepared.objective.name, epochs=cfg.train.epochs,
                      batch_size=cfg.train.batch_size, callbacks=callbacks, progress=progress,
                      task=prepared.dataset.task, lr=lr, resume=resume_from)
    except KeyboardInterrupt:
        raise
    except BaseException:
        if write and not resume:
            shutil.rmtree(partial, ignore_errors=True)
        raise
    result = _evaluate(cfg, prepared, history, pop, time.perf_counter() - t0)
    if write:
        from netrx.rundir import write_run

        write_run(result, partial)
        (partial / "checkpoint.pt").unlink(missing_ok=True)
        partial.rename(final_dir)
        result.run_dir = final_dir
    return result


def _tensors(part, pop: Population, objective: Objective):
    X = torch.as_tensor(np.asarray(part.X)).to(pop.device, pop.dtype)
    y = torch.as_tensor(np.asarray(part.y)).to(pop.device, target_dtype(objective))
    return X, y


def _evaluate(cfg: RunConfig, prepared: Prepared, history: History, pop: Population,
              seconds: float) -> RunResult:
    """Final eval-mode metrics per member on train and dev; the test set only for the
    member chosen on dev (it is looked at once, for the chosen model)."""
    obj, splits = prepared.objective, prepared.splits
    status = history.final_status()
    results: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, part in (("train", splits.train), ("dev", splits.dev)):
        if len(part.y):
            loss, err = evaluate(pop, *_tensors(part, pop, obj), obj)
            results[name] = (loss.double().cpu().numpy(), err.double().cpu().numpy())
    lr = _member_values(cfg.optimizer.lr, cfg.members)
    dropout = _member_values(cfg.model.dropout, cfg.members)
    members = []
    for k in range(pop.members):
        row: dict[str, Any] = {"member": k, "seed": pop.seeds[k], "status": status[k],
                               "lr": lr[k], "dropout": dropout[k]}
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
    test: dict[str, float] = {}
    if len(splits.test.y):
        X, y = _tensors(splits.test, pop, obj)
        with torch.no_grad():
            out = pop.predict(X)[best:best + 1]
            yk = y.unsqueeze(0)
            test = {"loss": float(obj.loss(out, yk)[0]), "error": float(obj.error(out, yk)[0])}
    return RunResult(cfg, prepared, history, pop, best, members, test, seconds)
