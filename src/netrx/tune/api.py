"""``netrx.tune.tune``: run a search end to end (one worker here, or N local processes of
:mod:`netrx.tune.worker`) and write the run directory. A worker process never fails
silently: :class:`WorkerError` names it, with its exit status and its error."""

from __future__ import annotations

import collections
import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netrx.config import RunConfig, load_yaml, parse_config
from netrx.errors import ConfigError, DataError, NetrxError
from netrx.tune.liveness import Liveness, close_unstarted
from netrx.tune.samplers import derive_seed, make_pruner, make_sampler
from netrx.tune.settings import TuneConfig, load_tune_config

if TYPE_CHECKING:
    import optuna

    from netrx.experiment.prepared import Prepared
    from netrx.tune.search import Engine


class WorkerError(NetrxError, RuntimeError):
    """A worker process of ``tune(workers=N)`` failed. The message names each one that
    did, with its exit status and error; :attr:`result` is the study's result (its outputs
    written) when the other workers went on, None when every one failed."""

    def __init__(self, message: str, result: TuneResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class TuneResult:
    """A finished search: the study, its config, where it was written, the summary and
    the best trial's run config (what ``best.yaml`` holds; None when no trial completed)."""

    study: optuna.Study
    config: TuneConfig
    run_dir: Path
    name: str
    url: str
    summary: dict[str, Any]
    engine: Engine | None = None  # the in-process worker (None with several processes)
    best_config: RunConfig | None = None

    @property
    def best(self) -> dict[str, Any] | None:
        """The best completed trial: {number, value, epochs, values}."""
        return self.summary.get("best")


def _name_for(config: Any, cfg: TuneConfig, name: str | None) -> str:
    if name:
        return name
    if cfg.run.name:
        return cfg.run.name
    if isinstance(config, (str, os.PathLike)):
        return f"tune-{Path(config).stem}"
    return "tune"


def tune(config: str | os.PathLike | dict[str, Any], *, strategy: str | None = None,
         trials: int | None = None, slots: int | None = None, pruner: str | None = None,
         budget: float | str | None = None, storage: str | None = None,
         study: str | None = None, name: str | None = None, out: str | None = None,
         device: str | None = None, workers: int = 1, write: bool = True,
         prepared: Prepared | None = None, data: dict[str, Any] | None = None,
         on_epoch: Callable[[Engine], None] | None = None,
         on_poll: Callable[[optuna.Study], None] | None = None,
         log: Callable[[str], None] = lambda s: None) -> TuneResult:
    """Search the hyperparameters of a tune config (a YAML path or a dict).

    The keyword arguments override the config's ``search`` section (``storage``: a
    database URL, ``memory``, or None for ``runs/<name>/study.db``). Running the same
    call again resumes the study. With ``workers > 1``, that many local worker processes
    (``python -m netrx.tune.worker``) share the study; their stderr goes on to this
    process's, and when one of them fails, :class:`WorkerError` is raised once the others
    are done (naming each failed worker and its error; the outputs are written first and
    the result is the error's ``result``, unless every worker failed). ``prepared``: the
    data of the config's run, already prepared (:func:`netrx.experiment.prepared.prepare`),
    used by the in-process worker instead of preparing it again (worker processes prepare
    their own). ``on_epoch`` is called by the in-process worker after every epoch, ``on_poll``
    every second or so while local worker processes run. The result's ``best_config`` is
    the best trial's run config, written or not. ``data`` sets keys of the run config's
    data section (``target``, ``task``, ``impute``, ``drop``, ``features``, ...; None =
    keep), as ``netrx train``'s data flags do.
    """
    given = {k: v for k, v in (data or {}).items() if v is not None}
    if given:  # the config with its data section amended (workers read it as a file)
        name = _name_for(config, load_tune_config(config), name)
        raw = load_yaml(config) if isinstance(config, (str, os.PathLike)) \
            else copy.deepcopy(config)
        raw.setdefault("data", {}).update(given)
        config = raw
    overrides = {"strategy": strategy, "trials": trials, "slots": slots, "pruner": pruner,
                 "budget": budget}
    cfg = load_tune_config(config, overrides)
    if device is not None:
        cfg.run.device = device
        cfg.raw["device"] = device
    if int(workers) < 1:
        raise ConfigError(f"workers={workers!r}: need at least 1")
    name = _name_for(config, cfg, name)
    run_dir = Path(out or cfg.run.out) / name
    from netrx.tune.storage import default_url

    url = storage or cfg.search.storage or default_url(run_dir)
    study_name = study or cfg.search.study or name
    engine = None
    if workers > 1:
        if url == "memory":
            raise ConfigError("several workers need a shared storage; drop storage=memory")
        study_obj, failed = _run_processes(config, cfg, workers, name=name, out=out,
                                           url=url, study=study_name, device=device,
                                           overrides=overrides, run_dir=run_dir,
                                           on_poll=on_poll)
        if len(failed) == workers:
            raise WorkerError(f"every worker failed: {'; '.join(failed)}")
    else:
        failed = []
        study_obj, engine = run_worker(cfg, url, study_name, prepared=prepared,
                                       on_epoch=on_epoch, log=log)
    from netrx.tune.exports import best_run_config, write_outputs

    summary: dict[str, Any] = {}
    if write:
        summary = write_outputs(study_obj, cfg, run_dir, name, url)
    result = TuneResult(study_obj, cfg, run_dir, name, url, summary, engine,
                        best_run_config(study_obj, cfg, name))
    if failed:
        written = f" and wrote {run_dir}" if write else ""
        raise WorkerError(f"{'; '.join(failed)}. The other workers went on with the study"
                          f"{written}; rerun the same command to resume it", result)
    return result


def run_worker(cfg: TuneConfig, url: str, study_name: str, *,
               prepared: Prepared | None = None,
               on_epoch: Callable[[Engine], None] | None = None,
               log: Callable[[str], None] = lambda s: None) -> tuple[optuna.Study, Engine]:
    """One worker in this process: prepare the data (unless ``prepared`` is given), join
    the study, work until done."""
    from netrx.experiment.prepared import prepare
    from netrx.tune.search import Engine

    if prepared is None:
        prepared = prepare(cfg.run)
    if len(prepared.splits.dev.y) == 0:
        raise DataError("netrx tune ranks trials on the dev set; set data.dev > 0")
    study, live = open_for(cfg, url, study_name)
    live.start()
    budget = cfg.budget_seconds
    deadline = None if budget is None else time.monotonic() + budget
    engine = Engine(cfg, prepared, study, live, deadline=deadline, on_epoch=on_epoch, log=log)
    try:
        engine.run()
    finally:
        live.stop()
    if engine.expired():  # the budget ended the work, not the trial count
        close_unstarted(study)
    return study, engine


def _run_processes(config: Any, cfg: TuneConfig, workers: int, *, name: str,
                   out: str | None, url: str, study: str, device: str | None,
                   overrides: dict[str, Any], run_dir: Path,
                   on_poll: Callable[[optuna.Study], None] | None
                   ) -> tuple[optuna.Study | None, list[str]]:
    """Start ``workers`` processes of :mod:`netrx.tune.worker` on one study and wait for
    them. Their stderr goes on to this process's stderr. Returns the study (None when no
    worker could open it) and one line per worker that failed (its number, process id,
    exit status and last line of stderr: its error)."""
    import yaml

    from netrx.tune.storage import open_storage, open_study

    if isinstance(config, (str, os.PathLike)):
        path = Path(config)
    else:  # a dict: the workers read it from the run directory
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / "tune.yaml"
        data = {**cfg.raw, "search": cfg.search.model_dump(exclude_none=True)}
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    cmd = [sys.executable, "-m", "netrx.tune.worker", str(path), "--name", name,
           "--storage", url, "--study", study]
    for flag, value in (("--out", out), ("--device", device),
                        *((f"--{k}", v) for k, v in overrides.items())):
        if value is not None:
            cmd += [flag, str(value)]
    threads = max(1, (os.cpu_count() or 1) // workers)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    procs, tails = [], []
    for _ in range(workers):
        p = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, errors="replace")
        procs.append(p)
        tails.append(_tee(p.stderr))
    study_obj = None
    try:
        while any(p.poll() is None for p in procs):
            time.sleep(1.0)
            if on_poll is not None:
                try:
                    if study_obj is None:
                        study_obj = open_study(open_storage(url), study, url=url)
                    on_poll(study_obj)
                except ConfigError:
                    pass
    except KeyboardInterrupt:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait()
        raise
    failed = []
    for k, (p, tail) in enumerate(zip(procs, tails), start=1):
        tail.join(timeout=10)
        if p.returncode == 0:
            continue
        status = f"exit status {p.returncode}" if p.returncode > 0 \
            else f"killed by signal {-p.returncode}"
        failed.append(f"worker {k} of {workers} (pid {p.pid}) failed with {status}"
                      f"{_last_error(tail.lines, url)}")
    if study_obj is None:
        try:
            study_obj = open_study(open_storage(url), study, url=url)
        except ConfigError:
            if len(failed) < workers:
                raise
    return study_obj, failed


class _Tail(threading.Thread):
    """Copies a worker's stderr to this process's stderr, keeping its last lines."""

    def __init__(self, stream: Any) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: collections.deque[str] = collections.deque(maxlen=20)

    def run(self) -> None:
        for line in self.stream:
            self.lines.append(line.rstrip("\n"))
            sys.stderr.write(line)
            sys.stderr.flush()


def _tee(stream: Any) -> _Tail:
    tail = _Tail(stream)
    tail.start()
    return tail


def _last_error(lines: Sequence[str], url: str) -> str:
    """``: <the worker's last non-empty stderr line>`` (its error; a password masked)."""
    from netrx.tune.storage import scrub

    last = next((s.strip() for s in reversed(lines) if s.strip()), "")
    for prefix in ("error: worker failed: ", "error: "):
        last = last.removeprefix(prefix)
    return f": {scrub(last, url)}" if last else " (it printed nothing)"


SPACE = "netrx:space"  # study attr: the search space the study was created with
BASE = "netrx:config"  # study attr: the run config the study was created with


def open_for(cfg: TuneConfig, url: str, study_name: str) -> tuple[optuna.Study, Liveness]:
    """Open (or create) the study, check it was made by the same config, register this
    worker and give it a sampler seeded for this worker and this point of the study."""
    import optuna

    from netrx.tune.storage import open_storage, open_study

    storage = open_storage(url)
    study = open_study(storage, study_name, sampler=optuna.samplers.RandomSampler(),
                       pruner=make_pruner(cfg), url=url)
    check_same_study(study, cfg, url)
    s = cfg.search
    live = Liveness(study, interval=s.heartbeat, grace=s.grace, retries=s.retries)
    index = live.register()
    base_seed = s.seed if s.seed is not None else cfg.run.seed
    n_before = len(study.get_trials(deepcopy=False))
    study.sampler = make_sampler(cfg, derive_seed(base_seed, n_before, index))
    return study, live


def _comparable(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k not in ("name", "out", "device")}


def check_same_study(study: optuna.Study, cfg: TuneConfig, url: str) -> None:
    """A study keeps its search space and base config: record them on creation, refuse a
    different one later (the trials would not be comparable)."""
    from netrx.tune.storage import mask_url

    attrs = study.user_attrs
    space = json.loads(json.dumps(cfg.space.to_mapping()))
    base = json.loads(json.dumps({**_comparable(parse_config(cfg.raw).model_dump(mode="json")),
                                  "max_epochs": cfg.max_epochs, "metric": cfg.search.metric}))
    if SPACE not in attrs:
        study.set_user_attr(SPACE, space)
        study.set_user_attr(BASE, base)
        study.set_user_attr("netrx:strategy", cfg.search.strategy)
        # workers started at once all find the study new; the storage keeps one record
        # (the first written; another worker's insert of the same key is ignored): compare
        attrs = study.user_attrs
    if attrs[SPACE] != space or attrs.get(BASE, base) != base:
        what = "search space" if attrs[SPACE] != space else "run config"
        raise ConfigError(f"study {study.study_name!r} in {mask_url(url)} was created with "
                          f"another {what}; rerun with the config it was made with, or give "
                          "a new --study (or --name) to start another study")
