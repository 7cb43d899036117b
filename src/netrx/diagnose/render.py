"""Rich tables and text for the diagnostics, and what ``netrx gradcheck`` / ``diagnose``
print."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console

    from netrx.diagnose.bias_variance import Diagnosis
    from netrx.diagnose.gradcheck_result import GradCheckResult
    from netrx.diagnose.learning_curve import LearningCurve
    from netrx.diagnose.prescriptions import Prescription
    from netrx.diagnose.verdict import RunVerdict

_STYLE = {"great": "green", "fine": "green", "look again": "yellow", "bug": "bold red",
          "good": "green", "high bias": "yellow", "high variance": "yellow",
          "high bias and high variance": "bold red"}


def _styled(verdict: str) -> Text:
    return Text(verdict, style=_STYLE.get(verdict, ""))


def gradcheck_table(result: GradCheckResult) -> Table:
    """One row per parameter tensor: coordinates checked, norms, relative difference."""
    table = Table(title=f"gradient check {result.label} (member {result.member})".strip())
    for col in ("tensor", "module", "checked", "‖dθapprox‖", "‖dθ‖", "relative diff",
                "verdict"):
        table.add_column(col, justify="left" if col in ("tensor", "module") else "right")
    for t in result.tensors:
        table.add_row(t.name, t.module, f"{t.checked}/{t.numel}",
                      f"{np.linalg.norm(t.approx):.4g}", f"{np.linalg.norm(t.grad):.4g}",
                      f"{t.rel_diff:.2e}", _styled(t.verdict))
    table.add_section()
    table.add_row("all", "", f"{result.checked}/{result.n_params}", "", "",
                  f"{result.rel_diff:.2e}", _styled(result.verdict))
    return table


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.2%}"


def _signed(v: float | None) -> str:
    return "—" if v is None else f"{v:+.2%}"


def _limit(threshold: float, noise: float) -> str:
    return f"{threshold:.2%}" if noise <= threshold else f"{noise:.2%} (2·standard error)"


def diagnosis_table(d: Diagnosis, title: str = "bias / variance") -> Table:
    table = Table(title=title)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_column("formula / threshold")
    table.add_row("target error", _pct(d.target_error), "Bayes / human proxy")
    table.add_row("train error", _pct(d.train_error), "")
    table.add_row("dev error", _pct(d.dev_error), "")
    if d.test_error is not None:
        table.add_row("test error", _pct(d.test_error), "")
    table.add_row("avoidable bias", _signed(d.avoidable_bias),
                  f"train − target; high if > {_limit(d.bias_threshold, d.bias_noise)}")
    table.add_row("variance", _signed(d.variance),
                  f"dev − train; high if > {_limit(d.variance_threshold, d.variance_noise)}")
    if d.mismatch is not None:
        table.add_row("dev/test mismatch", _signed(d.mismatch), "test − dev; flagged if > "
                      f"{_limit(d.mismatch_threshold, d.mismatch_noise)}")
    table.add_section()
    table.add_row("verdict", _styled(d.verdict), "")
    return table


def members_table(verdict: RunVerdict) -> Table:
    table = Table(title=f"bias / variance per member — {verdict.run_dir.name} "
                        f"(target {verdict.target_error:.2%})")
    for col in ("member", "train", "dev", "test", "avoidable bias", "variance", "verdict"):
        table.add_column(col, justify="right" if col != "verdict" else "left")
    for m in verdict.members:
        name = f"{m.member}{' (best)' if m.best else ''}"
        d = m.diagnosis
        if d is None:
            table.add_row(name, "—", "—", "—", "—", "—", m.note)
            continue
        table.add_row(name, _pct(d.train_error), _pct(d.dev_error), _pct(d.test_error),
                      _signed(d.avoidable_bias), _signed(d.variance), _styled(d.verdict))
    return table


def recipe_lines(prescriptions: list[Prescription]) -> list[str]:
    """The basic recipe as lines: remedy, advice, the config change(s), the search space."""
    if not prescriptions:
        return ["low bias and low variance: nothing to prescribe; look at the test error "
                "once, for the chosen model."]
    lines = []
    for i, p in enumerate(prescriptions, 1):
        lines.append(f"{i}. [{p.problem}] {p.remedy}: {p.advice}")
        for c in p.changes:
            lines.append(f"     change  {c.path}: {c.value!r}")
        for path, dist in p.search.items():
            lines.append(f"     search  {path} ~ {dist}")
    return lines


def learning_curve_table(curve: LearningCurve) -> Table:
    table = Table(title=f"learning curve — {curve.dataset} (target {curve.target_error:.2%})")
    for col in ("fraction", "m (train examples)", "train error", "dev error", "dev − train"):
        table.add_column(col, justify="right")
    for p in curve.points:
        table.add_row(f"{p.fraction:g}", str(p.n_train), _pct(p.train_error),
                      _pct(p.dev_error), _signed(p.dev_error - p.train_error))
    return table


def print_learning_curve(console: Console, curve: LearningCurve, **thresholds: float) -> None:
    """The learning-curve table, the verdict at the full training set and the dev error's
    slope per doubling of m."""
    console.print(learning_curve_table(curve))
    d = curve.diagnosis(**thresholds)
    console.print(f"at m = {curve.points[-1].n_train}: {d.explain()}", highlight=False)
    slope = curve.dev_slope()
    hint = "more data still helps" if slope < -0.005 else \
        "flat: more data alone will not help much"
    console.print(f"dev error per doubling of m: {slope:+.2%} ({hint})", highlight=False)


def print_verdict(console: Console, verdict: RunVerdict, all_members: bool = False) -> None:
    """``netrx diagnose RUN``: the best member's table, explanation and recipe, or (all
    members) the members' table and one recipe per verdict."""
    if verdict.task == "regression":
        console.print("[yellow]regression run: errors are the MSE of the standardized target, "
                      "MSE/σ_y² ≈ 1 − R² (a fraction of the target's variance); --target-error "
                      "is in the same unit[/]")
    if all_members:
        console.print(members_table(verdict))
        groups: dict[str, list] = {}
        for m in verdict.members:
            if m.diagnosis is not None:
                groups.setdefault(m.diagnosis.verdict, []).append(m)
        for name, ms in groups.items():
            console.print(f"\n[bold]{name}[/] (members {', '.join(str(m.member) for m in ms)}):")
            for line in recipe_lines(ms[0].prescriptions):
                console.print(line, highlight=False, markup=False)
        return
    best = verdict.members[0]
    if best.diagnosis is None:
        console.print(f"member {best.member}: {best.note}")
        return
    console.print(diagnosis_table(best.diagnosis, f"bias / variance — {verdict.run_dir.name}, "
                                                  f"best member {best.member}"))
    console.print(best.diagnosis.explain(), highlight=False)
    console.print("\n[bold]basic recipe[/]")
    for line in recipe_lines(best.prescriptions):
        console.print(line, highlight=False, markup=False)
