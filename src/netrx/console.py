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


def print_result(console: Console, result: Any) -> None:
    rows = sorted(result.members, key=lambda m: (m.get("dev_error") is None,
                                                 m.get("dev_error") or 0.0))
    is_reg = result.prepared.dataset.task == "regression"
    err = "MSE" if is_reg else "error"
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
        metric = result.test["error"]
        shown_metric = f"test MSE {metric:.4g}" if is_reg else \
            f"test accuracy {1 - metric:.2%} (error {metric:.4f})"
        members = result.extras.get("ensemble_members")
        who = f"ensemble of members {members}" if members and len(members) > 1 \
            else f"best member {result.best}"
        console.print(f"{who}: {shown_metric}")
    diverged = [m["member"] for m in result.members if m["status"] == "diverged"]
    if diverged:
        console.print(f"[yellow]diverged (loss NaN/inf, frozen): members {diverged}[/]")
    if result.run_dir is not None:
        console.print(f"run written to {result.run_dir}")
