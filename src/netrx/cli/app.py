"""The ``netrx`` command line (typer + rich). Errors print without a traceback, exit 2."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from netrx.cli.console import (
    print_datasets,
    print_interrupted,
    print_playground,
    print_result,
)
from netrx.cli.flags import (
    BatchSizeOpt,
    DeviceOpt,
    DropOpt,
    DropoutOpt,
    EpochsOpt,
    FeaturesOpt,
    HiddenOpt,
    ImputeOpt,
    LrOpt,
    MembersOpt,
    SeedOpt,
    TargetErrorOpt,
    TargetOpt,
    TaskOpt,
    TestOpt,
    choice,
    data_flags,
)
from netrx.errors import ConfigError, NetrxError
from netrx.registry import ACTIVATIONS, AUGMENTATIONS, FAMILIES, INITS, OPTIMIZERS, SCHEDULES

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="netrx: train, diagnose and improve deep networks with the course's "
                       "playbook.")
console = Console()
err_console = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version  # no torch import for --version

        console.print(f"netrx {version('netrx')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="print netrx's version and exit")] = False) -> None:
    """netrx: train, diagnose and improve deep networks with the course's playbook."""


def print_error(message: str) -> None:
    """``error: message`` on stderr as one line, however wide the terminal (or none)."""
    from rich.markup import escape

    line = " ".join(message.split("\n"))
    err_console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)


def friendly(fn):
    """Print NetrxError messages without a traceback and exit with status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (NetrxError, OSError) as e:
            from netrx.files import write_error

            if not isinstance(e, NetrxError):  # a full disk, no permission: else a bug
                e = write_error(getattr(e, "filename", None) or "a file", e)
                if not isinstance(e, NetrxError):
                    raise
            print_error(str(e))
            raise typer.Exit(2) from None

    return wrapper


@app.command()
@friendly
def datasets() -> None:
    """List the built-in datasets with their shapes, classes and splits."""
    from netrx.data import describe_builtins

    print_datasets(console, describe_builtins())


@app.command()
@friendly
def train(
    config: Annotated[Path | None, typer.Argument(help="YAML config; flags override it")] = None,
    dataset: Annotated[str | None, typer.Option(help="built-in name or a .csv/.npz file")] = None,
    target: TargetOpt = None,
    task: TaskOpt = None,
    impute: ImputeOpt = None,
    drop: DropOpt = None,
    features: FeaturesOpt = None,
    target_error: TargetErrorOpt = None,
    test: TestOpt = None,
    family: choice("Family", FAMILIES.names(), "model family", "--model") = None,
    hidden: HiddenOpt = None,
    activation: choice("Activation", ACTIVATIONS.names(), "hidden-layer activation") = None,
    init: choice("Init", INITS.choices(), "weight initialisation") = None,
    dropout: DropoutOpt = None,
    batch_norm: Annotated[bool | None, typer.Option("--batch-norm/--no-batch-norm")] = None,
    optimizer: choice("Optimizer", OPTIMIZERS.names(), "optimizer") = None,
    schedule: choice("Schedule", SCHEDULES.names(), "learning-rate schedule") = None,
    schedule_param: Annotated[list[str] | None, typer.Option(
        help="schedule parameter KEY=VALUE, repeatable, e.g. decay_rate=1")] = None,
    reduce_lr_on_plateau: Annotated[int | None, typer.Option(
        help="patience in epochs before a member's lr is multiplied by 0.1")] = None,
    lr: LrOpt = None,
    epochs: EpochsOpt = None,
    batch_size: BatchSizeOpt = None,
    members: MembersOpt = None,
    vary: Annotated[list[str] | None, typer.Option(
        help='per-member hyperparameter, e.g. "lr=log_uniform(1e-4,1e-1)"')] = None,
    early_stopping: Annotated[int | None, typer.Option(help="patience in epochs")] = None,
    l2: Annotated[float | None, typer.Option("--l2", help="L2 λ: cost + λ/2m Σ‖W‖²_F")] = None,
    l1: Annotated[float | None, typer.Option("--l1", help="L1 λ: cost + λ/m Σ|w|")] = None,
    l1_mode: choice("L1Mode", ("subgradient", "proximal"), "proximal gives exact 0s") = None,
    weight_decay: Annotated[float | None, typer.Option(
        help="decoupled decay λ_wd: θ −= α·λ_wd·θ each step")] = None,
    max_norm: Annotated[float | None, typer.Option(help="bound c on each unit's ‖w‖₂")] = None,
    dropconnect: Annotated[float | None, typer.Option(help="DropConnect rate on weights")] \
        = None,
    input_dropout: Annotated[float | None, typer.Option(help="dropout rate on the inputs")] \
        = None,
    label_smoothing: Annotated[float | None, typer.Option(help="label smoothing ε")] = None,
    augment: choice("Augment", AUGMENTATIONS.choices(), "augmentation preset") = None,
    init_from: Annotated[str | None, typer.Option(
        help="transfer: start from a run directory or a state-dict file")] = None,
    freeze: Annotated[int | None, typer.Option(help="transfer: freeze the first N layers")] \
        = None,
    transfer: choice("Transfer", ("auto", "none"), "transfer plan (auto: the notes' table)") \
        = None,
    similarity: choice("Similarity", ("similar", "different"),
                       "transfer: is the new data similar or different?") = None,
    tensorboard: Annotated[str | None, typer.Option(
        help="log per-member scalars to DIR/<name> (pip install netrx\\[tensorboard])")] = None,
    compile: Annotated[bool | None, typer.Option(
        "--compile/--no-compile", help="compile the training step with torch.compile (CUDA "
        "graphs on CUDA); slower on a small CPU: see docs/optimizers.md")] = None,
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    name: Annotated[str | None, typer.Option(help="run name (default: dataset-model-time)")] = None,
    out: Annotated[str | None, typer.Option(help="parent directory of runs")] = None,
    resume: Annotated[bool, typer.Option(help="carry on an interrupted run of this name")] = False,
    force: Annotated[bool, typer.Option(
        help="train even when the members look too many for the memory there is")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    json_out: Annotated[bool, typer.Option(
        "--json", help="print the run's summary as JSON on stdout (for scripts)")] = False,
) -> None:
    """Train a population of networks and write runs/<name>/."""
    given = dict(locals())  # every option, by its flat name (netrx.config.FLAT_KEYS)
    from netrx.cli.flags import train_config
    from netrx.experiment import run
    from netrx.experiment.execute import default_name, partial_dir, resume_command
    from netrx.report import build_report

    if resume and config is None and name is not None:  # the interrupted run's own config
        from netrx.files import check_name

        saved = Path(out or "runs") / f"{check_name(name)}.partial" / "config.yaml"
        given["config"] = saved if saved.is_file() else None
    cfg = train_config(given)
    if resume and cfg.name is None:
        raise ConfigError("--resume needs the --name of the interrupted run")
    if cfg.name is None:
        cfg = cfg.model_copy(update={"name": default_name(cfg)})
    try:
        result = run(cfg, progress=not (quiet or json_out), resume=resume, force=force,
                     finish=build_report)
    except KeyboardInterrupt:
        print_interrupted(err_console, partial_dir(cfg), resume_command(partial_dir(cfg)))
        raise typer.Exit(130) from None
    if json_out:
        from netrx.cli.console import print_json

        print_json({**result.summary(), "run_dir": str(result.run_dir)})
        return
    print_result(console, result)
    if result.run_dir is not None:
        console.print(f"report: {result.run_dir / 'report.html'}", highlight=False)


@app.command()
@friendly
def predict(
    run_dir: Annotated[Path, typer.Argument(help="a finished run directory")],
    data: Annotated[str, typer.Argument(help="built-in name, .csv or .npz file")],
    out: Annotated[Path | None, typer.Option(
        help="directory to write predictions.csv into (default: print them)")] = None,
    keep: Annotated[str | None, typer.Option(
        help="CSV columns to pass through beside the predictions, e.g. an ID: --keep id,name")]
    = None,
    member: Annotated[int | None, typer.Option(
        help="use this member alone (default: the run's ensemble if it chose one, else its "
             "best member)")] = None,
    device: DeviceOpt = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="print the predictions (and metrics) as JSON, for scripts")] = False,
) -> None:
    """Apply a finished run (its fitted preprocessing and chosen predictor) to new data."""
    from netrx.cli.console import print_predictions
    from netrx.cli.flags import out_file
    from netrx.experiment.predictor import kept_columns, load, read_for_prediction

    target = out_file(out, "predictions.csv") if out is not None else None
    predictor = load(run_dir, member=member, device=device or "auto")
    X, y = read_for_prediction(data, predictor)
    kept = kept_columns(data, keep, len(X)) if keep else None
    surprises = getattr(predictor.preprocessor, "surprises", None)
    for note in (surprises(X) if surprises is not None else []):
        err_console.print(f"[yellow]warning:[/] {note}", highlight=False, soft_wrap=True)
    print_predictions(console, predictor, X, y, target, kept=kept, as_json=json_out)


@app.command()
@friendly
def playground(
    out: Annotated[Path, typer.Option(help="folder for playground.html and playground.png")]
    = Path("playground"),
    steps: Annotated[int | None, typer.Option(
        help="steps per optimizer (default: 150, 200, 1000 for the three functions)")] = None,
) -> None:
    """Run every optimizer on 2-D test functions and plot the trajectories."""
    from netrx.report.playground import write

    written = write(out, steps)
    print_playground(console, written["results"])
    console.print(f"wrote {written['html']} and {written['png']}")


@app.command()
@friendly
def report(
    run_dir: Annotated[Path, typer.Argument(
        help="a finished run directory, or a tune run directory (the study's report)")],
    out: Annotated[Path | None, typer.Option(
        help="directory to write report.html into (default: the run directory)")] = None,
) -> None:
    """Write the self-contained HTML report of a run or of a study (plotly, readable
    offline)."""
    from netrx.cli.flags import out_file
    from netrx.report import build_report
    from netrx.report.study import build_study_report, is_study_dir

    build = build_study_report if is_study_dir(run_dir) else build_report
    target = out_file(out, "report.html") if out is not None else None
    console.print(f"report written to {build(run_dir, target)}")


@app.command()
@friendly
def tune(
    config: Annotated[Path, typer.Argument(help="tune config: a run config + a search section")],
    strategy: Annotated[str | None, typer.Option(
        help="grid, random, sobol, tpe or coarse_to_fine")] = None,
    trials: Annotated[int | None, typer.Option(help="trials in the whole study")] = None,
    slots: Annotated[int | None, typer.Option(help="population slots K trained at once")] \
        = None,
    pruner: Annotated[str | None, typer.Option(help="none, median, asha or hyperband")] = None,
    budget: Annotated[str | None, typer.Option(help="wall clock, e.g. 300s, 5m, 1h")] = None,
    storage: Annotated[str | None, typer.Option(
        help="postgresql://USER:PASSWORD@HOST/DB to share a study between machines "
             "(default: runs/<name>/study.db)")] = None,
    workers: Annotated[int, typer.Option(help="local worker processes on one study")] = 1,
    study: Annotated[str | None, typer.Option(help="study name (default: the run name)")] \
        = None,
    name: Annotated[str | None, typer.Option(
        help="run name (default: tune-<config file name>); rerun to resume")] = None,
    out: Annotated[str | None, typer.Option(help="parent directory of runs")] = None,
    device: DeviceOpt = None,
    target: TargetOpt = None,
    task: TaskOpt = None,
    impute: ImputeOpt = None,
    drop: DropOpt = None,
    features: FeaturesOpt = None,
    target_error: TargetErrorOpt = None,
    test: TestOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no live table")] = False,
    json_out: Annotated[bool, typer.Option(
        "--json", help="print the study's summary as JSON on stdout (for scripts)")] = False,
) -> None:
    """Search hyperparameters on the right scales, trials streaming through population
    slots; writes runs/<name>/ (study.db, best.yaml, trials.csv, importance.json, ...)."""
    from netrx.cli.tune import run_tune
    from netrx.files import check_name

    if name is not None:
        check_name(name)
    code = run_tune(config, console=console, err_console=err_console, strategy=strategy,
                    as_json=json_out,
                    trials=trials, slots=slots, pruner=pruner, budget=budget, storage=storage,
                    workers=workers, study=study, name=name, out=out, device=device,
                    quiet=quiet, data=data_flags(target=target, task=task, impute=impute,
                                                 drop=drop, features=features,
                                                 target_error=target_error, test=test))
    if code:
        raise typer.Exit(code)


@app.command()
@friendly
def improve(
    source: Annotated[str, typer.Argument(help="built-in data set, .csv/.npz file or YAML "
                                               "run config")],
    budget: Annotated[str, typer.Option(help="wall clock for everything, e.g. 90s, 15m")] \
        = "15m",
    target_error: TargetErrorOpt = None,
    family: choice("ImproveFamily", ("auto", *FAMILIES.names()),
                   "auto (the families that fit the input) or one family") = None,
    target: TargetOpt = None,
    task: TaskOpt = None,
    impute: ImputeOpt = None,
    drop: DropOpt = None,
    features: FeaturesOpt = None,
    test: TestOpt = None,
    members: Annotated[int, typer.Option(help="population size K (sweep, slots, seeds)")] = 8,
    sweep: choice("Sweep", ("grid", "lr-find"), "the baseline's learning-rate sweep: K "
                  "members on a log grid, or a range test then K seeds (default grid)") = None,
    name: Annotated[str | None, typer.Option(
        help="run name (default improve-<source>); rerun an interrupted one to resume it")] \
        = None,
    overwrite: Annotated[bool, typer.Option(
        help="replace a finished run of this name (and discard an interrupted one)")] = False,
    out: Annotated[str, typer.Option(help="parent directory of runs")] = "runs",
    seed: Annotated[int, typer.Option()] = 0,
    device: DeviceOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no live decision log")] = False,
    json_out: Annotated[bool, typer.Option(
        "--json", help="print the result as JSON on stdout (for scripts)")] = False,
) -> None:
    """The whole playbook hands-free: baseline, diagnose, prescribe, tune, repeat, then
    single vs ensemble vs Polyak on dev and the test set once; writes runs/<name>/."""
    from netrx.cli.improve_view import run_improve
    from netrx.files import check_name

    if name is not None:
        check_name(name)
    data = data_flags(task=task, impute=impute, drop=drop, features=features, test=test)
    family, device = family or "auto", device or "auto"
    code = run_improve(source, console=console, err_console=err_console, quiet=quiet,
                       as_json=json_out,
                       budget=budget, target_error=target_error, family=family, out=out,
                       name=name, seed=seed, device=device, members=members, target=target,
                       data=data, overwrite=overwrite, sweep=sweep or "grid")
    if code:
        raise typer.Exit(code)


# commands kept in their own modules (registered last: they use friendly and console)
from netrx.cli import compare as _compare  # noqa: E402
from netrx.cli import dashboard as _dashboard  # noqa: E402
from netrx.cli import diagnose as _diagnose  # noqa: E402
from netrx.cli import lr_find as _lr_find  # noqa: E402

_compare.register(app, friendly, console)
_dashboard.register(app, friendly, console)
_diagnose.register(app, friendly, console)
_lr_find.register(app, friendly, console)


def _one_line_paragraphs() -> None:
    """Help texts from docstrings with each paragraph on one line: rich keeps a
    docstring's line breaks, which wraps ``netrx --help`` mid-sentence."""
    import inspect

    for command in app.registered_commands:
        if command.help is None and command.callback is not None:
            doc = inspect.getdoc(command.callback) or ""
            command.help = "\n\n".join(" ".join(p.split()) for p in doc.split("\n\n"))


_one_line_paragraphs()
