"""One worker process of a study: ``python -m netrx.tune.worker CONFIG --storage URL
--study NAME [--name RUN] [--out DIR] [--device D] [--strategy ...] [--trials N]
[--slots K] [--pruner ...] [--budget T]``.

:func:`netrx.tune.api.tune` starts these for ``workers > 1``. A worker prepares the data,
joins the study, asks, trains and tells trials until the budget is spent and no trial is
left running anywhere, and writes nothing else (the process that started it writes the
run directory). It prints no table; its log lines and errors go to stderr.

Exit status: 0 when done, 2 on a :class:`~netrx.errors.NetrxError` (its message, one
line), 1 on any other error (its traceback, then ``error: worker failed: ...`` as the last
line, which ``--workers N`` repeats; a database password is masked in both), 130 on
Ctrl-C / SIGINT (its trials were given back to the study first: one that trained is
marked FAIL and re-enqueued, one still queued goes back to WAITING; so are they on an
error).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from netrx.errors import NetrxError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m netrx.tune.worker",
                                description="one worker of a netrx tune study (no output "
                                            "files, no live table)")
    p.add_argument("config", help="tune config: a run config + a search section")
    p.add_argument("--storage", required=True, help="the study's database URL")
    p.add_argument("--study", required=True, help="the study name")
    p.add_argument("--name", help="run name")
    p.add_argument("--out", help="parent directory of runs")
    p.add_argument("--device", help="auto, cpu or cuda")
    p.add_argument("--strategy", help="overrides search.strategy")
    p.add_argument("--trials", type=int, help="overrides search.trials")
    p.add_argument("--slots", type=int, help="overrides search.slots")
    p.add_argument("--pruner", help="overrides search.pruner")
    p.add_argument("--budget", help="overrides search.budget (e.g. 300s, 5m)")
    return p


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one worker with the arguments ``argv`` (default: the command line); returns the
    exit status (see the module docstring)."""
    from netrx.tune.api import tune

    args = _parser().parse_args(argv)
    try:
        tune(args.config, strategy=args.strategy, trials=args.trials, slots=args.slots,
             pruner=args.pruner, budget=args.budget, storage=args.storage, study=args.study,
             name=args.name, out=args.out, device=args.device, workers=1, write=False,
             log=_log)
    except KeyboardInterrupt:
        return 130
    except NetrxError as e:
        _log(f"error: {e}")
        return 2
    except Exception as e:  # a bug or a lost database: never die without saying why
        import traceback

        from netrx.tune.storage import scrub

        _log(scrub(traceback.format_exc().rstrip(), args.storage))
        _log(scrub(f"error: worker failed: {type(e).__name__}: {e}".splitlines()[0],
                   args.storage))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
