"""Rich tables that the command line prints for finished runs."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def test_line(test: dict[str, Any], task: str) -> str:
    """The one test figure: accuracy (classification); RMSE, MAE and R² in the target's
    units (regression)."""
    if task != "regression":
        return f"test accuracy {1 - test['error']:.2%} (error {test['error']:.4f})"
    if "rmse" not in test:
        return f"test MSE {test['error']:.4g}"
    return (f"test RMSE {test['rmse']:.4g}, MAE {test['mae']:.4g}, R² {test['r2']:.4f} "
            f"(MSE/σ² {test['error']:.4g})")


def error_name(task: str) -> str:
    """What an error is: 1 − accuracy, or for regression the MSE of the standardized
    target (MSE/σ_y², ≈ 1 − R²)."""
    return "MSE/σ²" if task == "regression" else "error"


def print_result(console: Console, result: Any) -> None:
    for note in result.prepared.dataset.notes:
        console.print(f"data: {note}", highlight=False)
    rows = sorted(result.members, key=lambda m: (m.get("dev_error") is None,
                                                 m.get("dev_error") or 0.0))
    task = result.prepared.dataset.task
    err = error_name(task) if result.prepared.target_scaler is not None or \
        task != "regression" else "MSE"
    table = Table(title=f"members ranked by dev {err} — {result.config.name}")
    from netrx.config import MEMBER_KEYS

    varied = [k for k in dict.fromkeys(("lr", "dropout", *MEMBER_KEYS))
              if k in result.members[0] and len({m[k] for m in result.members}) > 1]
    if any(m.get("zero_weights", 0) > 0 for m in result.members):
        varied.append("zero_weights")  # sparsity, e.g. from the proximal L1 step
    for col in ["rank", "member", *varied, f"train {err}", f"dev {err}", "status"]:
        table.add_column(col, justify="right")
    shown = rows[:20]
    for rank, m in enumerate(shown, 1):
        table.add_row(str(rank), str(m["member"]), *[fmt(m[k]) for k in varied],
                      fmt(m.get("train_error")), fmt(m.get("dev_error")), m["status"])
    console.print(table)
    if len(rows) > len(shown):
        console.print(f"… and {len(rows) - len(shown)} more members (see summary.json)")
    if result.test:
        shown_metric = test_line(result.test, task)
        members = result.extras.get("ensemble_members")
        who = f"ensemble of members {members}" if members and len(members) > 1 \
            else f"best member {result.best}"
        console.print(f"{who}: {shown_metric}")
    diverged = [m["member"] for m in result.members if m["status"] == "diverged"]
    if diverged:
        console.print(f"[yellow]diverged (loss NaN/inf, frozen): members {diverged}[/]")
    if result.run_dir is not None:
        console.print(f"run written to {result.run_dir}")


def print_interrupted(err_console: Console, partial: Any, resume: str) -> None:
    """What Ctrl-C leaves: the partial run and the command that resumes it, or nothing."""
    if (partial / "checkpoint.pt").is_file():
        err_console.print(f"interrupted; the last completed epoch is saved in {partial}. "
                          f"Resume with: {resume}", highlight=False, soft_wrap=True)
    else:
        err_console.print("interrupted before the first epoch ended; nothing was saved",
                          highlight=False, soft_wrap=True)


def print_improve(console: Console, result: Any) -> None:
    """``netrx improve``'s decision log, its final table (single / ensemble / Polyak on dev,
    the chosen one marked) and the one test figure."""
    table = Table(title="decision log")
    for col in ("step", "rule", "numbers", "action"):
        table.add_column(col, overflow="fold")
    for d in result.decisions:
        table.add_row(*(str(d[c]) for c in ("step", "rule", "numbers", "action")))
    console.print(table)
    final = Table(title="final: chosen on dev, test evaluated once")
    for col in ("predictor", "what", f"dev {error_name(result.task)}", "chosen"):
        final.add_column(col)
    for row in result.final["table"]:
        final.add_row(row["predictor"], row["what"], fmt(row["dev_error"]),
                      "✓" if row["predictor"] == result.final["chosen"] else "")
    console.print(final)
    if result.final.get("test_error") is None:
        console.print(f"no test set (--test 0): score it on yours with netrx predict "
                      f"{result.run_dir} TEST.csv", highlight=False)
    else:
        console.print(test_line(result.final.get("test") or
                                {"error": result.final["test_error"]}, result.task))
    console.print(f"{result.seconds:.1f} s of a {result.budget:.0f} s budget; run written to "
                  f"{result.run_dir}")


def print_playground(console: Console, results: dict[str, Any]) -> None:
    """``netrx playground``: f − f* after the last step, one row per optimizer and one
    column per test function."""
    table = Table(title="f − f* after the last step")
    names = list(results)
    table.add_column("optimizer")
    for n in names:
        table.add_column(n, justify="right")
    opts = [t.optimizer for t in results[names[0]]]
    for i, o in enumerate(opts):
        table.add_row(o, *[f"{float(results[n][i].loss[-1]):.2e}" for n in names])
    console.print(table)


def print_datasets(console: Console, builtins: list[dict[str, Any]]) -> None:
    """``netrx datasets``: one row per built-in data set, and how it is split."""
    table = Table(title="built-in datasets")
    for col in ("name", "examples", "input shape", "classes", "task", "test split"):
        table.add_column(col, no_wrap=col in ("name", "input shape"))
    for d in builtins:
        table.add_row(str(d["name"]), str(d["n_examples"]), str(tuple(d["input_shape"])),
                      str(d["n_classes"]), str(d["task"]),
                      f"own ({d['n_test']})" if d["has_test_split"] else "carved")
    console.print(table)
    console.print("Splits: train/dev/test, stratified and seeded (--seed). A dataset's own "
                  "test split stays the test set and dev is carved from train; otherwise dev "
                  "and test are carved from the data (fractions data.dev, data.test).")


def print_predictions(console: Console, predictor: Any, X: Any, y: Any, out: Any, *,
                      kept: Any = None, as_json: bool = False) -> None:
    """``netrx predict``: predictions (and class probabilities) of ``X``, the accuracy or
    RMSE / MAE / R² where labels ``y`` came with the data, and the table, the ``out`` CSV
    or JSON; ``kept`` (a DataFrame of passed-through columns) comes first."""
    import json

    import numpy as np
    import pandas as pd

    preds = predictor.predict(X)
    columns: dict[str, Any] = {"prediction": preds}
    if predictor.task == "classification":
        proba = predictor.predict_proba(X)
        for j, c in enumerate(predictor.classes):
            columns[f"p_{c}"] = proba[:, j]
    metrics: dict[str, Any] = {}
    if y is not None:
        if predictor.task == "classification":
            metrics["accuracy"] = float(np.mean(np.asarray(preds).astype(str)
                                                == np.asarray(y).astype(str)))
        else:
            from netrx.experiment.evaluate import regression_metrics

            metrics.update(regression_metrics(np.asarray(preds, float), np.asarray(y, float)))
        metrics["n"] = len(preds)
    frame = pd.DataFrame(columns)
    if kept is not None:
        frame = pd.concat([kept.reset_index(drop=True), frame], axis=1)
    if out is not None:
        from netrx.files import write_atomic

        write_atomic(out, lambda f: frame.to_csv(f, index=False), mode="w")
    if as_json:
        records = json.loads(frame.to_json(orient="records"))
        print(json.dumps({"predictions": records, "metrics": metrics,
                          "written": str(out) if out is not None else None}))
        return
    if "accuracy" in metrics:
        console.print(f"accuracy on {metrics['n']} labelled examples: {metrics['accuracy']:.2%}")
    elif metrics:
        console.print(f"on {metrics['n']} labelled examples: RMSE {metrics['rmse']:.4g}, "
                      f"MAE {metrics['mae']:.4g}, R² {metrics['r2']:.4f}")
    if out is not None:
        console.print(f"{len(frame)} predictions written to {out}")
    else:
        console.print(frame.head(20).to_string(index=False))
        if len(frame) > 20:
            console.print(f"… {len(frame) - 20} more rows; use --out DIR to save them all")


def silent() -> Console:
    """A console that prints nowhere (``--json``: stdout holds the JSON alone)."""
    import io

    return Console(file=io.StringIO())


def print_json(data: Any) -> None:
    """``data`` as one line of JSON on stdout (NaN/inf as null)."""
    import json

    from netrx.files import finite

    print(json.dumps(finite(data), default=str))
