"""Run a :class:`~netrx.config.RunConfig` end to end: data → split → preprocessing fitted on
train → the one assembly and fit (:mod:`netrx.experiment.assemble`) → evaluation → run
directory."""

from __future__ import annotations

import shlex
import shutil
import time
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netrx.config import RunConfig, to_yaml
from netrx.ensemble import PolyakAveraging
from netrx.errors import ConfigError, DataError, WriteError, excerpt
from netrx.experiment.assemble import assemble, train
from netrx.experiment.build import build_model
from netrx.experiment.evaluate import (
    TEST_METRICS,
    RunResult,
    ensemble_split_error,
    evaluate_test,
    member_errors,
    member_table,
)
from netrx.experiment.memory import check_fits
from netrx.experiment.prepared import Prepared, prepare
from netrx.files import check_name, make_dir, safe_name, write_atomic, write_error
from netrx.population import Population
from netrx.population.device import resolve_device
from netrx.train import Checkpoint, History


def default_name(cfg: RunConfig) -> str:
    stem = Path(cfg.data.dataset).stem if cfg.data.dataset else "run"
    return safe_name(f"{safe_name(stem)[:40]}-{cfg.model.family}-"
                     f"{datetime.now().strftime('%Y%m%d-%H%M%S')}")


def partial_dir(cfg: RunConfig) -> Path:
    """Where an unfinished run of ``cfg`` lives: ``<out>/<name>.partial``."""
    return Path(cfg.out) / f"{cfg.name}.partial"


def resume_command(partial: Path) -> str:
    """The command that carries on the interrupted run in ``partial``."""
    return f"netrx train {shlex.quote(str(partial / 'config.yaml'))} --resume"


def run(cfg: RunConfig, *, progress: bool = True, write: bool = True,
        resume: bool = False, prepared: Prepared | None = None, force: bool = False,
        finish: Callable[[Path], Any] | None = None) -> RunResult:
    """Train the configured population and, with ``write``, save ``runs/<name>/``.

    ``prepared`` replaces the data of ``cfg`` (e.g. a subset of the training set for a
    learning curve); by default it is :func:`prepare` ``(cfg)``. ``finish(directory)``
    adds files (the report) before the run directory gets its final name.

    Everything is checked before anything is written: the name (one plain path
    component), the labels, that K members fit in memory (``force`` skips that), and on
    ``resume`` that the config is the interrupted run's own. While training, files go to
    ``runs/<name>.partial/`` (with a resumable checkpoint); the directory is renamed to
    ``runs/<name>/`` only when complete. A :class:`~netrx.errors.NetrxError` removes the
    partial directory of a new run; an interruption (Ctrl-C) or a full disk keeps it once
    an epoch is saved, so that ``resume=True`` can carry on.
    """
    t0 = time.perf_counter()
    cfg = cfg.model_copy(deep=True)
    cfg.name = default_name(cfg) if cfg.name is None else check_name(cfg.name)
    final_dir = Path(cfg.out) / cfg.name
    partial = partial_dir(cfg)
    if write:
        if cfg.train.epochs < 1:
            raise ConfigError("train.epochs is 0: the run would be written untrained; give "
                              "--epochs N with N ≥ 1")
        if final_dir.exists():
            raise ConfigError(f"run directory {str(final_dir)!r} already exists; choose another "
                              "--name or remove it")
        if resume and not (partial / "config.yaml").is_file():
            raise ConfigError(f"nothing to resume: no interrupted run {str(partial)!r} (drop "
                              "--resume to start it)")
        if partial.exists() and not resume:
            raise ConfigError(f"an interrupted run is in {str(partial)!r}; resume it with: "
                              f"{resume_command(partial)} (or remove it)")
    if prepared is None:
        with warnings.catch_warnings(record=True) as caught:  # shown once the labels pass
            warnings.simplefilter("always")
            prepared = prepare(cfg)
        check_labels(prepared)
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    check_labels(prepared)
    if cfg.transfer.init_from is not None:
        from netrx.experiment.transfer import resolve

        cfg = resolve(cfg, prepared)  # source architecture, `strategy: auto` plan
    if write and resume:
        check_resumable(cfg, partial)
    model = build_model(cfg, prepared.input_shape, prepared.n_outputs)
    check_fits(cfg, model, prepared.input_shape, resolve_device(cfg.device), force=force)
    del model
    pieces = assemble(cfg, prepared)
    extra: list[Any] = []
    ckpt = partial / "checkpoint.pt"
    resume_from = ckpt if (resume and ckpt.exists()) else None
    if write:
        if not resume:
            make_dir(partial)
            try:
                write_atomic(partial / "config.yaml", lambda f: f.write(to_yaml(cfg)), mode="w")
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
        for stale in partial.glob(".*.tmp"):  # a write cut short by kill -9
            stale.unlink(missing_ok=True)
        extra.append(Checkpoint(ckpt))
    try:
        _, history = train(cfg, prepared, pieces=pieces, callbacks=extra, progress=progress,
                           resume=resume_from)
    except KeyboardInterrupt:
        if write and not resume and not ckpt.exists():  # not one epoch saved: nothing kept
            shutil.rmtree(partial, ignore_errors=True)
        raise
    except WriteError as e:  # a full disk: the last saved epoch is kept for --resume
        if write and ckpt.exists():
            raise _kept(e, "the last completed epoch", partial) from None
        if write and not resume:
            shutil.rmtree(partial, ignore_errors=True)
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

        try:
            write_run(result, partial)
            if finish is not None:
                finish(partial)
            try:
                partial.rename(final_dir)
            except OSError as e:
                raise write_error(final_dir, e) from None
            (final_dir / ckpt.name).unlink(missing_ok=True)
        except WriteError as e:  # the final checkpoint is kept: --resume writes it all again
            raise _kept(e, "the trained run", partial) from None
        result.run_dir = final_dir
    return result


def _kept(e: WriteError, what: str, partial: Path) -> WriteError:
    """A write refused after training began: ``what`` is kept in ``partial`` to resume."""
    fix = getattr(e, "fix", "fix it")
    where = f"cannot write {e.path}: {e.reason}" if hasattr(e, "reason") else str(e)
    return WriteError(f"{where}; {what} is saved in {partial}: {fix}, then resume with: "
                      f"{resume_command(partial)}")


def check_resumable(cfg: RunConfig, partial: Path) -> None:
    """A ConfigError unless ``cfg`` is the config the interrupted run in ``partial`` was
    started with (up to ``device`` and ``out``): a resumed run must be that run."""
    from netrx.config import load_config

    saved = load_config(partial / "config.yaml").model_dump(mode="json")
    now = cfg.model_dump(mode="json")
    changed = [k for k in sorted(set(_flat(saved)) | set(_flat(now)))
               if k.split(".")[0] not in ("device", "out")
               and _flat(saved).get(k) != _flat(now).get(k)]
    if changed:
        shown = ", ".join(f"{k}={excerpt(_flat(saved).get(k), 40)} (now "
                          f"{excerpt(_flat(now).get(k), 40)})" for k in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        raise ConfigError(f"cannot resume {partial}: it was started with {shown}{more}; "
                          f"resume it with its own config: {resume_command(partial)} (or start "
                          "a new run with another --name)")


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) and v else
                   {f"{prefix}{k}": v})
    return out


def check_labels(prepared: Prepared) -> None:
    """A DataError for a classification target that is not one: non-integer numbers (a
    regression target), or classes with no training example (too many classes for the
    data: the network could not have an output unit for each)."""
    ds = prepared.dataset
    if ds.task != "classification" or not ds.classes:
        return
    numbers = []
    for c in ds.classes:
        try:
            numbers.append(float(c))
        except (TypeError, ValueError):
            break
    else:
        odd = [c for c, x in zip(ds.classes, numbers) if not float(x).is_integer()][:3]
        if odd:
            raise DataError(f"the target holds non-integer numbers (e.g. {', '.join(odd)}) "
                            f"but the task is classification ({len(ds.classes)} classes of "
                            "one value each); use --task regression, or leave --task out")
    seen, counts = np.unique(np.asarray(prepared.splits.train.y).astype(np.int64),
                             return_counts=True)
    missing = len(ds.classes) - len(seen)
    if missing > 0:
        absent = sorted(set(range(len(ds.classes))) - set(seen.tolist()))[:3]
        names = ", ".join(repr(str(ds.classes[i]))[:30] for i in absent)
        raise DataError(f"{missing} of the {len(ds.classes)} classes have no example in the "
                        f"training split (e.g. {names}): {len(ds.y)} examples are too few "
                        "for that many classes; merge rare classes, give more data, or use "
                        "--task regression for a numeric target")
    if len(ds.classes) > 2 and np.median(counts) < 2:
        raise DataError(f"most of the {len(ds.classes)} classes have one training example "
                        f"({len(prepared.splits.train.y)} examples in all): too few to learn "
                        "them; merge rare classes, give more data, or use --task regression "
                        "for a numeric target")


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
