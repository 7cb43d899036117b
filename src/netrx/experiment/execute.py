"""Run a :class:`~netrx.config.RunConfig` end to end: data → split → preprocessing fitted on
train → the one assembly and fit (:mod:`netrx.experiment.assemble`) → evaluation → run
directory."""

from __future__ import annotations

import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netrx.config import RunConfig, to_yaml
from netrx.ensemble import PolyakAveraging
from netrx.errors import ConfigError
from netrx.experiment.assemble import assemble, train
from netrx.experiment.evaluate import (
    TEST_METRICS,
    RunResult,
    ensemble_split_error,
    evaluate_test,
    member_errors,
    member_table,
)
from netrx.experiment.prepared import Prepared, prepare
from netrx.files import write_atomic
from netrx.population import Population
from netrx.train import Checkpoint, History


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
        from netrx.experiment.transfer import resolve

        cfg = resolve(cfg, prepared)  # source architecture, `strategy: auto` plan
    pieces = assemble(cfg, prepared)
    extra: list[Any] = []
    ckpt = partial / "checkpoint.pt"
    resume_from = ckpt if (resume and ckpt.exists()) else None
    if write:
        partial.mkdir(parents=True, exist_ok=True)
        write_atomic(partial / "config.yaml", lambda f: f.write(to_yaml(cfg)), mode="w")
        extra.append(Checkpoint(ckpt))
    try:
        _, history = train(cfg, prepared, pieces=pieces, callbacks=extra, progress=progress,
                           resume=resume_from)
    except KeyboardInterrupt:
        raise
    except BaseException:
        if write and not resume:
            shutil.rmtree(partial, ignore_errors=True)
        raise
    pop = pieces.population
    polyak = pieces.find(PolyakAveraging)
    if polyak is not None and polyak.averaged is not None:
        use_averaged_weights(pop, polyak, prepared.splits.train)
    result = _evaluate(cfg, prepared, history, pop, time.perf_counter() - t0)
    if write:
        from netrx.experiment.rundir import write_run

        write_run(result, partial)
        (partial / "checkpoint.pt").unlink(missing_ok=True)
        partial.rename(final_dir)
        result.run_dir = final_dir
    return result


@torch.no_grad()
def use_averaged_weights(pop: Population, polyak: PolyakAveraging, train: Any) -> None:
    """Replace every member's weights by its Polyak average and recompute the batch-norm
    statistics for them on the training inputs."""
    from netrx.ensemble import recompute_batch_norm

    pop.flat.copy_(polyak.averaged)
    recompute_batch_norm(pop, torch.as_tensor(np.asarray(train.X)))


def _evaluate(cfg: RunConfig, prepared: Prepared, history: History, pop: Population,
              seconds: float) -> RunResult:
    """Final eval-mode metrics per member on train and dev; the test set only for the
    predictor chosen on dev (it is looked at once, for the chosen model)."""
    splits = prepared.splits
    members = member_table(cfg, pop, member_errors(pop, prepared, history))
    key = "dev_error" if len(splits.dev.y) else "train_error"
    ranked = [m for m in members if m.get(key) is not None] or members
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
        test = {k: tested[k] for k in TEST_METRICS if tested.get(k) is not None}
        extras["confusion_matrix"] = tested["confusion"]
    result = RunResult(cfg, prepared, history, pop, best, members, test, seconds)
    if len(splits.test.y):
        result.test_predictions = tested.get("predictions")
    result.extras.update({k: v for k, v in extras.items() if v is not None})
    return result
