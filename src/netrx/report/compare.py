"""``netrx compare RUN RUN …``: finished runs side by side in one self-contained page.

A table (name, dataset, task, the test metric(s) of the model each run chose, its dev and
train error, members, epochs, seconds, and every hyperparameter of ``config.yaml`` whose
value differs between the runs) and the learning curves of each run's chosen member
overlaid: dev error and training loss per epoch, on log axes when the values span a
decade or more. Every user string is escaped (``html.escape``, through
:class:`netrx.report.html.Page`, :func:`~netrx.report.html.table` and the trace names).
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netrx.errors import ConfigError, RunDirError

# config keys that say where or under which name a run was written, not how it trained
_NOT_HYPERPARAMETERS = ("name", "out", "device", "members", "data.dataset", "train.tensorboard")
_TEST_COLUMNS = (("test_error", "test error"), ("test_accuracy", "test accuracy"),
                 ("test_rmse", "test RMSE"), ("test_mae", "test MAE"), ("test_r2", "test R²"))


@dataclass
class RunInfo:
    """What the comparison reads of one run directory."""

    path: Path
    label: str
    summary: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    history: Any = None  # pandas.DataFrame of history.csv, or None

    @property
    def chosen(self) -> str:
        """The model whose test metric the run reports."""
        if self.summary.get("ensemble_members"):
            return f"ensemble of {len(self.summary['ensemble_members'])}"
        if str(self.summary.get("chosen", "")).startswith("polyak"):
            return "Polyak average"
        return f"member {self.summary.get('best_member', '?')}"


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optimizer": {"lr": 0.1}}`` → ``{"optimizer.lr": 0.1}`` (lists stay values)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def load_run(path: str | os.PathLike) -> RunInfo:
    """Read a finished run directory (``summary.json``; ``config.yaml`` and
    ``history.csv`` when present)."""
    import pandas as pd
    import yaml

    d = Path(path)
    if not d.is_dir():
        raise RunDirError(f"{d}: no such run directory")
    if not (d / "summary.json").is_file():
        if (d / "tune.json").is_file():
            raise RunDirError(f"{d} is a tune run directory, not a training run: see its "
                              f"report (netrx report {d}) or train its best.yaml and compare that")
        raise RunDirError(f"{d} has no summary.json: not a finished netrx run directory")
    try:
        summary = json.loads((d / "summary.json").read_text())
        config = yaml.safe_load((d / "config.yaml").read_text()) \
            if (d / "config.yaml").is_file() else {}
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise RunDirError(f"{d}: cannot read its summary or config ({e})") from None
    history = pd.read_csv(d / "history.csv") if (d / "history.csv").is_file() else None
    return RunInfo(d, str(summary.get("name") or d.name), summary,
                   config if isinstance(config, dict) else {}, history)


def _labels(runs: list[RunInfo]) -> None:
    """Make every label unique (the parent directory, then a counter)."""
    for r in runs:
        if sum(o.label == r.label for o in runs) > 1:
            r.label = f"{r.path.resolve().parent.name}/{r.label}"
    seen: dict[str, int] = {}
    for r in runs:
        seen[r.label] = seen.get(r.label, 0) + 1
        if seen[r.label] > 1:
            r.label = f"{r.label} ({seen[r.label]})"


def differing(runs: Sequence[RunInfo]) -> list[str]:
    """The config keys whose values are not the same in every run, in config order."""
    flat = [flatten(r.config) for r in runs]
    keys: list[str] = []
    for f in flat:
        keys += [k for k in f if k not in keys and k not in _NOT_HYPERPARAMETERS]

    def distinct(k: str) -> int:
        return len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flat})

    return [k for k in keys if distinct(k) > 1]


def _shown(value: Any) -> Any:
    if value is None:
        return None
    return json.dumps(value) if isinstance(value, (list, dict, bool)) else value


def table_rows(runs: Sequence[RunInfo]) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per run and the columns to show (test metrics only if some run has them,
    then the hyperparameters that differ)."""
    rows, hyper = [], differing(runs)
    for r in runs:
        s, best = r.summary, r.summary.get("best") or {}
        test = {k: best.get(k) for k, _ in _TEST_COLUMNS}
        if s.get("task") != "regression" and best.get("test_error") is not None:
            test["test_accuracy"] = 1.0 - float(best["test_error"])
        dev = s.get("ensemble_dev_error", best.get("dev_error"))
        row = {"run": r.label, "dataset": s.get("dataset"), "task": s.get("task"),
               **{label: test.get(k) for k, label in _TEST_COLUMNS},
               "dev error": dev, "train error": best.get("train_error"),
               "chosen": r.chosen, "members": s.get("members"), "epochs": s.get("epochs_run"),
               "seconds": s.get("seconds")}
        flat = flatten(r.config)
        row.update({k: _shown(flat.get(k)) for k in hyper})
        rows.append(row)
    columns = [c for c in rows[0] if any(row.get(c) is not None for row in rows)
               or c in ("run", "dev error")]
    return rows, columns


def _curve(r: RunInfo) -> tuple[Any, Any, Any, str] | None:
    """Epochs, dev (or train) error and train loss of the run's chosen member."""
    h = r.history
    if h is None or not len(h) or "epoch" not in h:
        return None
    if "member" in h:
        member = r.summary.get("best_member", 0)
        h = h[h["member"] == member] if (h["member"] == member).any() else h[h["member"] == 0]
    h = h.sort_values("epoch")
    if "dev_error" in h and h["dev_error"].notna().any():
        return h["epoch"], h["dev_error"], h.get("train_loss"), "dev"
    return h["epoch"], h.get("train_error"), h.get("train_loss"), "train"


def curves_figure(runs: Sequence[RunInfo]) -> Any | None:
    """The chosen member's dev error and training loss of every run, overlaid."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from netrx.report.figures import _LAYOUT, color
    from netrx.report.study_figures import spans_decades

    fig = make_subplots(rows=1, cols=2, subplot_titles=("dev error (best member)",
                                                        "training loss"))
    errors: list[Any] = []
    losses: list[Any] = []
    for i, r in enumerate(runs):
        got = _curve(r)
        if got is None:
            continue
        epochs, error, loss, split = got
        name = html.escape(r.label) + ("" if split == "dev" else " (train error: no dev set)")
        line = dict(color=color(i), width=2)
        if error is not None:
            errors += list(error.dropna())
            fig.add_trace(go.Scatter(x=list(epochs), y=list(error), mode="lines", line=line,
                                     name=name, legendgroup=str(i)), row=1, col=1)
        if loss is not None and loss.notna().any():
            losses += list(loss.dropna())
            fig.add_trace(go.Scatter(x=list(epochs), y=list(loss), mode="lines", line=line,
                                     name=name, legendgroup=str(i), showlegend=error is None),
                          row=1, col=2)
    if not fig.data:
        return None
    fig.update_xaxes(title_text="epoch")
    if spans_decades(errors):
        fig.update_yaxes(type="log", row=1, col=1)
    if spans_decades(losses):
        fig.update_yaxes(type="log", row=1, col=2)
    fig.update_layout(**{**_LAYOUT, "height": 420}, title="Learning curves")
    return fig


def load_runs(run_dirs: Sequence[str | os.PathLike]) -> list[RunInfo]:
    """Read two run directories or more (see :func:`load_run`), each with a unique label."""
    if len(run_dirs) < 2:
        raise ConfigError("netrx compare needs two run directories or more, e.g. "
                          "netrx compare runs/a runs/b")
    runs = [load_run(p) for p in run_dirs]
    _labels(runs)
    return runs


def build_compare(run_dirs: Sequence[str | os.PathLike],
                  out: str | os.PathLike = "compare.html") -> Path:
    """Write the comparison page of ``run_dirs`` (two or more) to ``out``; return it."""
    return write_compare(load_runs(run_dirs), out)


def _scroll(html_table: str) -> str:
    return f"<div style='overflow-x:auto'>{html_table}</div>"


def write_compare(runs: Sequence[RunInfo], out: str | os.PathLike = "compare.html") -> Path:
    """Write the comparison page of runs read by :func:`load_runs` to ``out``."""
    from netrx.files import write_atomic
    from netrx.report.html import Page, table

    rows, columns = table_rows(runs)
    page = Page(f"netrx compare — {len(runs)} runs", " · ".join(r.label for r in runs))
    hyper = differing(runs)
    metrics = [c for c in columns if c not in hyper]
    notes = ""
    tasks = {r.summary.get("task") for r in runs}
    if "regression" in tasks:
        notes += ("<p class='muted'>Regression errors are the MSE of the standardized target "
                  "(MSE/σ²); RMSE and MAE are in target units.</p>")
    if len(tasks) > 1:
        notes += "<p class='muted'>The runs solve different tasks: their errors differ in kind.</p>"
    page.section("Runs", _scroll(table(rows, metrics)), notes)
    if hyper:  # a row per key, a column per run: any number of keys fits the page
        labels = [r.label for r in runs]
        keyed = [{"hyperparameter": k, **{label: row.get(k) for label, row in zip(labels, rows)}}
                 for k in hyper]
        page.section("Hyperparameters that differ",
                     _scroll(table(keyed, ["hyperparameter", *labels])))
    else:
        page.section("Hyperparameters that differ",
                     "<p class='muted'>None: the runs' configs are the same but for their names "
                     "and where they were written.</p>")
    fig = curves_figure(runs)
    page.section("Learning curves", page.figure(fig) if fig is not None
                 else "<p class='muted'>No run has a history.csv.</p>")
    target = Path(out)
    text = page.render()
    write_atomic(target, lambda f: f.write(text), mode="w")
    return target
