"""``netrx improve``: the notes' whole playbook, hands-free.

1. **Baseline.** For each architecture family (``auto``: the families that fit the
   input, see :data:`FAMILIES_BY_KIND`) train a population of K members whose learning
   rates are spread evenly on a log scale, α_k = 10^(r_k) with r_k evenly spaced over
   [log10 1e-4, log10 3e-2], with early stopping; keep the member with the lowest dev error.
2. **Diagnose** it (:func:`netrx.diagnose.bias_variance` against the target error) and take
   the prescriptions of the basic recipe (:func:`netrx.diagnose.prescribe`).
3. **Tune** the prescribed subspace (each change becomes ``choice(current, new)``, each
   prescribed search range is searched as given) with :func:`netrx.tune.tune`, coarse to
   fine with ASHA pruning; the winner is retrained once to measure its train and dev error.
4. **Repeat** while the budget lasts, until :data:`MAX_MISSES` rounds in a row bring no
   gain or a rule ends the search (a "good" verdict, the dev error at the target).
5. **Finish**: train the chosen config as K seeds with Polyak averaging; on dev compare the
   best single member, the average of the top half's probabilities and the Polyak weights
   of the best member; keep the lowest dev error and evaluate the test set exactly once.

Time plan: baseline ≈ :data:`PLAN` ``["baseline"]`` of the budget, rounds ≈ ``["rounds"]``,
the final step gets the rest (at least ``["final"]``). Every decision is logged with the
rule that fired and the numbers behind it. State is kept in
``<out>/<name>.partial/improve_state.json`` after every completed step, so that the same
call resumes an interrupted improve; the directory becomes ``<out>/<name>/`` at the end.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netrx.config import RunConfig, load_yaml, parse_config
from netrx.errors import ConfigError, DataError, NetrxError, unknown_choice
from netrx.experiment import prepare
from netrx.files import write_atomic, write_json
from netrx.recipe.baseline import baseline_step
from netrx.recipe.final import evaluate_test, final_step, write_outputs
from netrx.recipe.round import round_step, search_space
from netrx.recipe.steps import (
    FAMILIES_BY_KIND,
    FAMILY_CHOICES,
    STATE,
    SWEEPS,
    Context,
    families_for,
    learning_rates,
    single_config,
)
from netrx.train.deadline import Budget, parse_duration


@dataclass
class ImproveResult:
    """What :func:`improve` did: the decision log, the bias/variance steps, the final
    comparison on dev, the chosen predictor and its (single) test evaluation."""

    run_dir: Path
    config: RunConfig
    decisions: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    final: dict[str, Any]
    seconds: float
    budget: float
    task: str = "classification"
    extras: dict[str, Any] = field(default_factory=dict)


# -- the source -------------------------------------------------------------------------


def base_config(source: str, *, target: str | None = None, target_error: float | None = None,
                data: dict[str, Any] | None = None, seed: int = 0, device: str = "auto",
                name: str | None = None, out: str = "runs") -> RunConfig:
    """The starting run config: a YAML run config, or a built-in / file data set; ``data``
    sets keys of its data section (None = keep)."""
    is_yaml = str(source).lower().endswith((".yaml", ".yml"))
    overrides = {k: v for k, v in (data or {}).items() if v is not None}
    data = load_yaml(source) if is_yaml else {"data": {"dataset": str(source)}}
    data.setdefault("data", {}).update(overrides)
    data.pop("search", None)
    if target is not None:
        data.setdefault("data", {})["target"] = target
    if target_error is not None:
        data.setdefault("data", {})["target_error"] = float(target_error)
    data.update(seed=seed, device=device, out=out, members=1)
    if name is not None:
        data["name"] = name
    train = data.setdefault("train", {})
    train.pop("early_stopping", None)
    train.pop("reduce_lr_on_plateau", None)
    for key in ("optimizer", "model", "regularization", "augment"):  # one value, not lists
        for k, v in list((data.get(key) or {}).items()):
            if isinstance(v, list) and k != "hidden":
                data[key][k] = v[0]
    return parse_config(data)


# -- state (resume) ---------------------------------------------------------------------


class State:
    """``improve_state.json``: each completed step's outputs, written atomically."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path, self.data = path, data

    @classmethod
    def open(cls, path: Path, key: dict[str, Any]) -> State:
        if path.is_file():
            data = json.loads(path.read_text())
            if data.get("key") != key:
                raise ConfigError(f"{path.parent} holds an interrupted improve of another "
                                  f"command ({data.get('key')}); use another --name or remove "
                                  "it")
            return cls(path, data)
        return cls(path, {"key": key, "spent": 0.0, "steps": {}, "decisions": [],
                          "bias_variance": []})

    def done(self, step: str) -> dict[str, Any] | None:
        return self.data["steps"].get(step)

    def complete(self, step: str, outputs: dict[str, Any], spent: float) -> None:
        self.data["steps"][step] = outputs
        self.data["spent"] = spent
        self._write(self.data)

    def interrupted(self, spent: float) -> None:
        """Count the time of an interrupted step (its decisions are made again)."""
        saved = json.loads(self.path.read_text()) if self.path.is_file() else \
            {**self.data, "steps": {}, "decisions": [], "bias_variance": []}
        saved["spent"] = spent
        self._write(saved)

    def remember(self, key: str, value: Any) -> Any:
        """Keep ``value`` for ``key`` at once (e.g. a round's search plan, so that a resumed
        round continues the same study with the same plan); return the kept value."""
        plans = self.data.setdefault("plans", {})
        if key in plans:
            return plans[key]
        plans[key] = value
        saved = json.loads(self.path.read_text()) if self.path.is_file() else \
            {**self.data, "steps": {}, "decisions": [], "bias_variance": []}
        saved.setdefault("plans", {})[key] = value
        self._write(saved)
        return value

    def _write(self, data: dict[str, Any]) -> None:
        text = json.dumps(data, indent=2, default=float)
        write_atomic(self.path, lambda f: f.write(text), mode="w")


# -- the loop ---------------------------------------------------------------------------

#: rounds in a row without a gain that end the search
MAX_MISSES = 2
CLOCK = "improve_clock.json"


class Heartbeat:
    """The time spent, written to ``path`` every ``every`` seconds by a daemon thread, so
    that an attempt killed without warning (``kill -9``, a power cut) is still charged to
    the budget when the same command resumes it."""

    def __init__(self, path: Path, spent: Callable[[], float], every: float = 2.0) -> None:
        import threading

        self.path, self.spent, self.every = path, spent, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="improve-clock")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            if self.path.parent.is_dir():
                write_json(self.path, {"spent": round(self.spent(), 3)})

    @staticmethod
    def read(path: Path) -> float:
        try:
            return float(json.loads(path.read_text())["spent"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0.0


class _Log:
    def __init__(self, state: State, log: Callable[[str], None],
                 progress: Callable[[dict[str, Any]], None] = lambda event: None) -> None:
        self.state, self.log, self.progress = state, log, progress

    def decide(self, step: str, rule: str, numbers: str, action: str) -> None:
        entry = {"step": step, "rule": rule, "numbers": numbers, "action": action}
        self.state.data["decisions"].append(entry)
        self.log(f"[{step}] {rule}: {numbers} → {action}")
        self.progress({"event": "decision", **entry})


def write_progress(ctx: Context, step: str) -> None:
    """The run so far in the partial directory: decisions.json, bias_variance.json and
    progress.json (the last completed step, time spent, budget, data) for a live report."""
    d, data = ctx.partial, ctx.state.data
    write_json(d / "decisions.json", data["decisions"])
    write_json(d / "bias_variance.json", data["bias_variance"])
    ds = ctx.prepared.dataset
    write_json(d / "progress.json", {"name": ctx.cfg0.name, "dataset": ds.name, "task": ds.task,
                                     "step": step, "spent": round(ctx.spent(), 1),
                                     "budget": ctx.total, "families": list(ctx.families)})


def improve(source: str, *, budget: str | float = "15m", target_error: float | None = None,
            family: str = "auto", out: str = "runs", name: str | None = None, seed: int = 0,
            device: str = "auto", members: int = 8, target: str | None = None,
            data: dict[str, Any] | None = None, overwrite: bool = False, sweep: str = "grid",
            log: Callable[[str], None] = print,
            progress: Callable[[dict[str, Any]], None] | None = None) -> ImproveResult:
    """Run the playbook on ``source`` (a built-in name, a data file, or a YAML run config)
    within ``budget`` (seconds or ``15m``); see the module docstring. ``data`` sets keys of
    the config's ``data`` section (``task``, ``impute``, ``drop``, ``features``, ...), as
    ``netrx train``'s data flags do. ``sweep`` is the baseline's learning-rate sweep:
    ``grid`` (K members on a log grid) or ``lr-find`` (a range test, then K seeds at its
    suggested rate). Rerunning the same call with the same ``name``
    resumes an interrupted improve; ``overwrite`` replaces a finished one (and discards an
    interrupted one).

    ``progress`` receives events for a live view: ``decision`` (each logged decision),
    ``verdict``, ``trials`` (a round's tuning, after every epoch: complete, pruned,
    running, planned, best dev) and ``step_done`` (``dev_error``, ``train_error``, and
    ``dir``, the partial run directory, whose ``decisions.json``, ``bias_variance.json``
    and ``progress.json`` then hold the run so far: ``netrx report`` renders it)."""
    total = parse_duration(budget)
    if family not in FAMILY_CHOICES:
        raise unknown_choice("family", family, FAMILY_CHOICES)
    if sweep not in SWEEPS:
        raise unknown_choice("sweep", sweep, SWEEPS)
    if int(members) < 2:
        raise ConfigError(f"members={members!r}: improve needs at least 2 (a learning-rate "
                          "sweep and an ensemble)")
    cfg0 = base_config(source, target=target, target_error=target_error, data=data, seed=seed,
                       device=device, name=name, out=out)
    if cfg0.name is None:
        stem = Path(str(source)).stem
        cfg0 = single_config(cfg0, name=f"improve-{stem}")
    final_dir = Path(out) / str(cfg0.name)
    partial = Path(out) / f"{cfg0.name}.partial"
    if final_dir.exists() and not overwrite:
        raise ConfigError(f"run directory {str(final_dir)!r} already exists: it holds a "
                          "finished improve; rerun with --overwrite to replace it, or give "
                          "another --name")
    if overwrite:  # a fresh start: the finished run and any interrupted one go
        shutil.rmtree(final_dir, ignore_errors=True)
        shutil.rmtree(Path(out) / f"{cfg0.name}.partial", ignore_errors=True)
    key = {"source": str(source), "budget": total, "family": family, "seed": seed,
           "members": int(members), "target_error": target_error}
    if sweep != "grid":  # (the key of an improve started before --sweep existed stays valid)
        key["sweep"] = sweep
    state = State.open(partial / STATE, key)
    # the time of an attempt killed without a chance to save it: its heartbeat
    spent0 = max(float(state.data["spent"]), Heartbeat.read(partial / CLOCK))
    clock = Budget(max(total - spent0, 0.0))
    spent = lambda: spent0 + clock.elapsed  # noqa: E731
    heartbeat = Heartbeat(partial / CLOCK, spent)

    prepared = prepare(cfg0)
    for note in prepared.dataset.notes:
        log(f"[data] {note}")
    if len(prepared.splits.dev.y) == 0:
        raise DataError("improve ranks models on the dev set; set data.dev > 0")
    if len(prepared.splits.test.y) == 0:
        log("[data] no test set (--test 0): every row trains or judges a model; score the "
            "chosen predictor on your own held-out data with netrx predict")
    partial.mkdir(parents=True, exist_ok=True)
    emit = progress or (lambda event: None)
    dlog = _Log(state, log, emit)
    ctx = Context(cfg0, prepared, clock, total, spent0, int(members), family, partial, dlog,
                  state, spent, emit, sweep)

    emit({"event": "start", "name": cfg0.name, "spent": spent0, "budget": total,
          "dir": str(partial)})

    def step_done(step: str, current: dict[str, Any]) -> None:
        write_progress(ctx, step)
        emit({"event": "step_done", "step": step, "dev_error": current.get("dev_error"),
              "train_error": current.get("train_error"), "dir": str(partial)})

    heartbeat.start()
    try:
        current = state.done("baseline") or baseline_step(ctx)
        step_done("baseline", current)
        rnd, misses = 1, 0
        while True:
            step = f"round{rnd}"
            outcome = state.done(step) or round_step(ctx, step, current)
            if outcome.get("accepted"):
                current, misses = outcome["current"], 0
            else:
                misses += 1
            step_done(step, current)
            if not outcome.get("accepted") and (outcome.get("stop", True)
                                                or misses >= MAX_MISSES):
                break
            rnd += 1
        final = final_step(ctx, current)
    except KeyboardInterrupt:
        heartbeat.stop()
        state.interrupted(spent())
        raise
    except NetrxError:
        heartbeat.stop()
        if not state.data["steps"]:  # nothing worth resuming
            shutil.rmtree(partial, ignore_errors=True)
        raise
    heartbeat.stop()
    final_result = final.pop("_result")
    write_outputs(ctx, final_result, final)
    state.complete("final", {k: v for k, v in final.items() if k != "table"}, spent())
    partial.rename(final_dir)
    steps = state.data["bias_variance"]
    return ImproveResult(final_dir, final_result.config, state.data["decisions"], steps, final,
                         spent(), total, prepared.dataset.task,
                         {"families": list(ctx.families)})


__all__ = ["FAMILIES_BY_KIND", "ImproveResult", "State", "base_config", "evaluate_test",
           "families_for", "improve", "learning_rates", "search_space"]
