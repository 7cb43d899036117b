"""The live panel of ``netrx improve``: the step, the time against the budget, the trials
of the round being tuned, the best dev error so far, the verdict and the last decision;
after every completed step the run so far is rendered into ``report.html`` (refresh the
browser to follow)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table

from netrx.cli.console import fmt, print_improve


class ImproveView:
    """Feed it :func:`netrx.recipe.plan.improve`'s progress events; use as a context."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.t0 = time.monotonic()
        self.info: dict[str, Any] = {"step": "baseline", "spent": 0.0, "budget": None}
        self.live = Live(console=console, refresh_per_second=2, transient=False,
                         get_renderable=self.render)

    def __enter__(self) -> ImproveView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)

    def __call__(self, event: dict[str, Any]) -> None:
        kind, info = event.get("event"), self.info
        if kind == "start":
            self.t0 = time.monotonic()
            info.update(name=event["name"], spent=event["spent"], budget=event["budget"])
        elif kind == "decision":
            info["step"] = event["step"]
            info["last"] = f"{event['rule']} → {event['action']}"
        elif kind == "verdict":
            info["verdict"] = event["verdict"]
        elif kind == "trials":
            info["trials"] = event
        elif kind == "step_done":
            info.pop("trials", None)
            if event.get("dev_error") is not None:
                info["best"] = (event["dev_error"], event["step"])
            try:
                from netrx.report import build_report

                info["report"] = str(build_report(event["dir"]))
            except Exception as e:  # a report is a view; the run goes on without it
                info["report"] = f"not written: {e}"

    def elapsed(self) -> float:
        return float(self.info["spent"]) + time.monotonic() - self.t0

    def render(self) -> Panel:
        info = self.info
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column(overflow="fold")
        budget = info.get("budget")
        used = self.elapsed()
        clock = f"{used:.0f} s of {budget:.0f} s" if budget else f"{used:.0f} s"
        grid.add_row("step", str(info["step"]))
        if budget:
            bar = ProgressBar(total=float(budget), completed=min(used, float(budget)), width=30)
            grid.add_row("time", Group(clock, bar))
        else:
            grid.add_row("time", clock)
        t = info.get("trials")
        if t:
            grid.add_row("trials", f"{t['complete']} complete, {t['pruned']} pruned, "
                                   f"{t['running']} running (of {t['planned']} planned); "
                                   f"best dev in this round {fmt(t['best'])}")
        if info.get("best"):
            grid.add_row("best dev", f"{fmt(info['best'][0])} ({info['best'][1]})")
        if info.get("verdict"):
            grid.add_row("verdict", str(info["verdict"]))
        if info.get("last"):
            grid.add_row("last", str(info["last"]))
        if info.get("report"):
            grid.add_row("report", str(info["report"]))
        return Panel(grid, title=f"netrx improve — {info.get('name', '')}", expand=False)


def run_improve(source: str, *, console: Console, err_console: Console, quiet: bool,
                as_json: bool = False, **options: Any) -> int:
    """``netrx improve``: the decision log and the live panel while it runs (none with
    ``quiet``), then the final table and the report. Returns the exit status (0, or 130
    when interrupted: the completed steps are kept for a resume)."""
    from netrx.recipe.plan import improve

    if as_json:  # stdout holds the JSON alone
        from netrx.cli.console import silent

        console, quiet = silent(), True

    def log(line: str) -> None:
        if not quiet:
            console.print(line, highlight=False, markup=False)

    view = None if quiet else ImproveView(console)
    try:
        if view is None:
            result = improve(source, log=log, **options)
        else:
            with view:
                result = improve(source, log=log, progress=view, **options)
    except KeyboardInterrupt:
        err_console.print("interrupted; completed steps are saved. Run the same command "
                          "(same --name) to resume.")
        return 130
    print_improve(console, result)
    from netrx.report import build_report

    report = build_report(result.run_dir)
    console.print(f"report: {report}")
    if as_json:
        from netrx.cli.console import print_json

        print_json({"run_dir": str(result.run_dir), "report": str(report),
                    "task": result.task, "seconds": round(result.seconds, 3),
                    "budget": result.budget, "final": {k: v for k, v in result.final.items()
                                                       if not k.startswith("_")},
                    "decisions": result.decisions, "bias_variance": result.steps})
    return 0
