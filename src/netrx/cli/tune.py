"""What ``netrx tune`` prints: the live table, the box, the result and where it went."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console


def run_tune(config: Path, *, console: Console, err_console: Console, quiet: bool = False,
             workers: int = 1, as_json: bool = False, **options: Any) -> int:
    """Run ``netrx tune``; returns the exit status (0; 1 when a worker process of
    ``--workers N`` failed: the summary of what the others did, then which worker failed
    and why; 130 when interrupted). Its worker processes run :mod:`netrx.tune.worker`."""
    from rich.markup import escape

    from netrx.cli.tune_table import LiveTable
    from netrx.tune.api import WorkerError, tune
    from netrx.tune.settings import load_tune_config
    from netrx.tune.storage import mask_url

    cfg = load_tune_config(config, {k: options.get(k) for k in
                                    ("strategy", "trials", "slots", "pruner", "budget")})
    if as_json:  # stdout holds the JSON alone
        from netrx.cli.console import silent

        console, quiet = silent(), True
    live = None if quiet else LiveTable(console, cfg.space)

    def log(line: str) -> None:
        console.print(line, highlight=False, markup=False, soft_wrap=True)

    try:
        if live is not None:
            with live:
                result = tune(config, workers=workers, on_epoch=live.from_engine,
                              on_poll=live.from_study, log=log, **options)
        else:
            result = tune(config, workers=workers, log=log, **options)
    except KeyboardInterrupt:
        err_console.print("interrupted: the trials in progress were given back to the "
                          "study; rerun the same command to resume")
        return 130
    except WorkerError as e:
        if e.result is not None and e.result.summary:
            _print_summary(console, e.result, mask_url)
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        return 1
    _print_summary(console, result, mask_url)
    if as_json:
        from netrx.cli.console import print_json

        print_json({**result.summary, "run_dir": str(result.run_dir),
                    "storage": mask_url(result.url)})
    return 0


def _print_summary(console: Console, result: Any, mask_url: Any) -> None:
    from netrx.cli.tune_table import best_table
    from netrx.tune.exports import trial_rows

    s = result.summary
    rows = trial_rows(result.study, result.config.space)
    console.print(best_table(rows, result.config.space,
                             title=f"best trials — study {result.study.study_name!r}"))
    states = ", ".join(f"{n} {k.lower()}" for k, n in sorted(s["states"].items()))
    never = (f"; {s['over_budget']} fail never ran (asked by a racing worker once the "
             "budget was spent)") if s.get("over_budget") else ""
    console.print(f"{s['trials']} trials ({states}); {s['trained']} trained at least one "
                  f"epoch{never}", soft_wrap=True)
    if s.get("best"):
        b = s["best"]
        values = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in b["values"].items())
        metric = s["metric"].replace("_", " ")
        console.print(f"best: trial {b['number']}, {metric} {b['value']:.4g} "
                      f"({values})", highlight=False, soft_wrap=True)
        console.print(f"train it: netrx train {result.run_dir / 'best.yaml'}", highlight=False,
                      soft_wrap=True)
    else:
        console.print("[yellow]no trial completed yet: no best.yaml[/]")
    imp = s.get("importance") or {}
    if imp.get("available"):
        top = ", ".join(f"{e['key']} {e['importance']:.2f}" for e in imp["keys"][:5])
        console.print(f"importance (fANOVA): {top}")
    else:
        console.print(f"importance: {imp.get('reason', 'not available')}")
    console.print(f"written to {result.run_dir} (best.yaml, trials.csv, importance.json, "
                  "plots.json, tune.json)", soft_wrap=True)
    url = mask_url(result.url)
    if url != "memory":
        where = result.run_dir if url.startswith("sqlite") else url
        console.print(f"browse the study: netrx dashboard {where}", highlight=False,
                      soft_wrap=True)
