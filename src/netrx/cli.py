"""The ``netrx`` command line (typer + rich). Errors print without a traceback, exit 2."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from netrx.errors import ConfigError, NetrxError, did_you_mean

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="netrx: train, diagnose and improve deep networks with the course's "
                       "playbook.")
console = Console()
err_console = Console(stderr=True)


def friendly(fn):
    """Print NetrxError messages without a traceback and exit with status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NetrxError as e:
            err_console.print(f"[bold red]error:[/] {e}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper


@app.command()
@friendly
def datasets() -> None:
    """List the built-in datasets with their shapes, classes and splits."""
    from netrx.data import describe_builtins

    table = Table(title="built-in datasets")
    for col in ("name", "examples", "input shape", "classes", "task", "test split"):
        table.add_column(col, no_wrap=col in ("name", "input shape"))
    for d in describe_builtins():
        table.add_row(str(d["name"]), str(d["n_examples"]), str(tuple(d["input_shape"])),
                      str(d["n_classes"]), str(d["task"]),
                      f"own ({d['n_test']})" if d["has_test_split"] else "carved")
    console.print(table)
    console.print("Splits: train/dev/test, stratified and seeded (--seed). A dataset's own "
                  "test split stays the test set and dev is carved from train; otherwise dev "
                  "and test are carved from the data (fractions data.dev, data.test).")


def _vary_overrides(vary: list[str], members: int, seed: int) -> dict[str, Any]:
    import numpy as np

    from netrx.config import MEMBER_KEYS
    from netrx.tune.space import parse_assignment

    paths = {**MEMBER_KEYS, **{v: v for v in MEMBER_KEYS.values()}}
    out: dict[str, Any] = {}
    rng = np.random.default_rng(seed)
    for text in vary:
        key, dist = parse_assignment(text)
        if key not in paths:
            raise ConfigError(
                f"--vary {key!r} cannot differ between members of one population"
                f"{did_you_mean(key, paths)}; member-wise keys: {', '.join(MEMBER_KEYS)} "
                "(architecture and batch size are searched with `netrx tune`)")
        if members < 2:
            raise ConfigError("--vary needs a population: add --members K with K ≥ 2")
        out[paths[key]] = dist.sample(rng, members)
    return out


def _parse_hidden(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise ConfigError(f"--hidden {text!r}: give comma-separated widths such as 100,100") \
            from None
    return sizes


@app.command()
@friendly
def train(
    config: Annotated[Path | None, typer.Argument(help="YAML config; flags override it")] = None,
    dataset: Annotated[str | None, typer.Option(help="built-in name or a .csv/.npz file")] = None,
    target: Annotated[str | None, typer.Option(help="CSV column to predict")] = None,
    task: Annotated[str | None, typer.Option(help="classification or regression")] = None,
    impute: Annotated[str | None, typer.Option(help="mean, median or most_frequent")] = None,
    model: Annotated[str | None, typer.Option(help="mlp, cnn1d or cnn2d")] = None,
    hidden: Annotated[str | None, typer.Option(help="hidden widths, e.g. 100,100")] = None,
    activation: Annotated[str | None, typer.Option(help="relu, leaky_relu, tanh, sigmoid")] = None,
    init: Annotated[str | None, typer.Option(help="auto, he, xavier, lecun, glorot")] = None,
    dropout: Annotated[float | None, typer.Option(help="dropout rate 1 − keep_prob")] = None,
    batch_norm: Annotated[bool | None, typer.Option("--batch-norm/--no-batch-norm")] = None,
    optimizer: Annotated[str | None, typer.Option(help="sgd or adam")] = None,
    lr: Annotated[float | None, typer.Option(help="learning rate α")] = None,
    epochs: Annotated[int | None, typer.Option()] = None,
    batch_size: Annotated[int | None, typer.Option()] = None,
    members: Annotated[int | None, typer.Option(help="population size K")] = None,
    vary: Annotated[list[str] | None, typer.Option(
        help='per-member hyperparameter, e.g. "lr=log_uniform(1e-4,1e-1)"')] = None,
    early_stopping: Annotated[int | None, typer.Option(help="patience in epochs")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda")] = None,
    name: Annotated[str | None, typer.Option(help="run name (default: dataset-model-time)")] = None,
    out: Annotated[str | None, typer.Option(help="parent directory of runs")] = None,
    resume: Annotated[bool, typer.Option(help="carry on an interrupted run of this name")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Train a population of networks and write runs/<name>/."""
    from netrx.config import load_yaml, merge, parse_config
    from netrx.experiment import run

    base = load_yaml(config) if config is not None else {}
    flags = {
        "data.dataset": dataset, "data.target": target, "data.task": task,
        "data.impute": impute, "model.family": model,
        "model.hidden": _parse_hidden(hidden) if hidden is not None else None,
        "model.activation": activation, "model.init": init, "model.dropout": dropout,
        "model.batch_norm": batch_norm, "optimizer.name": optimizer, "optimizer.lr": lr,
        "train.epochs": epochs, "train.batch_size": batch_size, "members": members,
        "seed": seed, "device": device, "name": name, "out": out,
        "train.early_stopping": {"patience": early_stopping} if early_stopping is not None
        else None,
    }
    cfg = parse_config(merge(base, {k: v for k, v in flags.items() if v is not None}))
    if vary:
        cfg = parse_config(merge(cfg.model_dump(), _vary_overrides(vary, cfg.members, cfg.seed)))
    if resume and cfg.name is None:
        raise ConfigError("--resume needs the --name of the interrupted run")
    try:
        result = run(cfg, progress=not quiet, resume=resume)
    except KeyboardInterrupt:
        partial = Path(cfg.out) / f"{cfg.name}.partial"
        err_console.print(f"interrupted; the last completed epoch is saved in {partial}. "
                          f"Resume with: netrx train {partial}/config.yaml --resume")
        raise typer.Exit(130) from None
    _print_result(result)


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _print_result(result: Any) -> None:
    rows = sorted(result.members, key=lambda m: (m.get("dev_error") is None,
                                                 m.get("dev_error") or 0.0))
    is_reg = result.prepared.dataset.task == "regression"
    err = "MSE" if is_reg else "error"
    table = Table(title=f"members ranked by dev {err} — {result.config.name}")
    varied = [k for k in ("lr", "dropout") if len({m[k] for m in result.members}) > 1]
    for col in ["rank", "member", *varied, f"train {err}", f"dev {err}", "status"]:
        table.add_column(col, justify="right")
    shown = rows[:20]
    for rank, m in enumerate(shown, 1):
        table.add_row(str(rank), str(m["member"]), *[_fmt(m[k]) for k in varied],
                      _fmt(m.get("train_error")), _fmt(m.get("dev_error")), m["status"])
    console.print(table)
    if len(rows) > len(shown):
        console.print(f"… and {len(rows) - len(shown)} more members (see summary.json)")
    if result.test:
        metric = result.test["error"]
        shown_metric = f"test MSE {metric:.4g}" if is_reg else \
            f"test accuracy {1 - metric:.2%} (error {metric:.4f})"
        console.print(f"best member {result.best}: {shown_metric}")
    diverged = [m["member"] for m in result.members if m["status"] == "diverged"]
    if diverged:
        console.print(f"[yellow]diverged (loss NaN/inf, frozen): members {diverged}[/]")
    if result.run_dir is not None:
        console.print(f"run written to {result.run_dir}")


@app.command()
@friendly
def predict(
    run_dir: Annotated[Path, typer.Argument(help="a finished run directory")],
    data: Annotated[str, typer.Argument(help="built-in name, .csv or .npz file")],
    out: Annotated[Path | None, typer.Option(help="write predictions to this CSV")] = None,
    member: Annotated[int | None, typer.Option(help="member to use (default: the best)")] = None,
    device: Annotated[str, typer.Option()] = "auto",
) -> None:
    """Apply a finished run (its fitted preprocessing and best member) to new data."""
    import numpy as np

    from netrx.rundir import load

    predictor = load(run_dir, member=member, device=device)
    X, y = _read_for_prediction(data, predictor)
    preds = predictor.predict(X)
    columns: dict[str, Any] = {"prediction": preds}
    if predictor.task == "classification":
        proba = predictor.predict_proba(X)
        for j, c in enumerate(predictor.classes):
            columns[f"p_{c}"] = proba[:, j]
    if y is not None:
        if predictor.task == "classification":
            acc = float(np.mean(np.asarray(preds).astype(str) == np.asarray(y).astype(str)))
            console.print(f"accuracy on {len(preds)} labelled examples: {acc:.2%}")
        else:
            mse = float(np.mean((np.asarray(preds, float) - np.asarray(y, float)) ** 2))
            console.print(f"MSE on {len(preds)} labelled examples: {mse:.4g}")
    import pandas as pd

    frame = pd.DataFrame(columns)
    if out is not None:
        from netrx.train.callbacks import write_atomic

        write_atomic(out, lambda f: frame.to_csv(f, index=False), mode="w")
        console.print(f"{len(frame)} predictions written to {out}")
    else:
        console.print(frame.head(20).to_string(index=False))
        if len(frame) > 20:
            console.print(f"… {len(frame) - 20} more rows; use --out FILE to save them all")


def _read_for_prediction(data: str, predictor: Any) -> tuple[Any, Any]:
    import numpy as np

    from netrx.data import builtin_names, load
    from netrx.errors import DataError

    path = Path(data)
    if path.suffix.lower() == ".csv" and path.is_file():
        import pandas as pd

        frame = pd.read_csv(path)
        target = predictor.config.data.target
        y = frame.pop(target).to_numpy() if target and target in frame else None
        missing = [c for c in predictor.columns if c not in frame.columns]
        if missing:
            raise DataError(f"{path} lacks the feature columns {missing} the run was trained on")
        X = frame[list(predictor.columns)].to_numpy(dtype=object)
        return X, y
    if path.suffix.lower() == ".npz" and path.is_file():
        with np.load(path, allow_pickle=False) as npz:
            if "X" not in npz:
                raise DataError(f"{path} has no array 'X' (found {', '.join(npz.files)})")
            y = npz["y"] if "y" in npz else None
            if y is not None and predictor.task == "classification" and y.dtype.kind in "iu":
                y = np.asarray(predictor.classes, dtype=object)[y] if len(predictor.classes) \
                    else y
            return npz["X"], y
    if data in builtin_names():
        ds = load(data)
        X, y = (ds.X_test, ds.y_test) if ds.X_test is not None else (ds.X, ds.y)
        labels = np.asarray(ds.classes, dtype=object)[y] if ds.classes else y
        return X, labels
    raise DataError(f"cannot read {data!r}: give a built-in dataset name "
                    f"({', '.join(builtin_names())}) or an existing .csv/.npz file")


def main() -> None:  # pragma: no cover - console script
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
