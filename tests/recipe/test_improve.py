"""`netrx improve` end to end on iris with a small budget, interrupted after the baseline
and resumed: the run directory, the decision log, the budget, one test evaluation."""

import json

import pandas as pd
import pytest

import netrx.recipe.baseline as recipe_baseline
import netrx.recipe.estimate as recipe_estimate
import netrx.recipe.final as recipe_final
import netrx.recipe.plan as recipe
import netrx.recipe.refit as recipe_refit
import netrx.recipe.steps as recipe_steps
from netrx.recipe.plan import improve
from netrx.train.deadline import Budget

BUDGET = 16.0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("improve")
    calls = {"test": 0, "baseline": 0}
    real_test = recipe_final.evaluate_test
    real_round, real_baseline = recipe.round_step, recipe.baseline_step

    def counted_test(*a, **k):
        calls["test"] += 1
        return real_test(*a, **k)

    def counted_baseline(*a, **k):
        calls["baseline"] += 1
        return real_baseline(*a, **k)

    def interrupted_round(*a, **k):
        raise KeyboardInterrupt

    lines = []
    allotted = []  # every budget a step was given, in seconds

    class Recorded(Budget):
        def __init__(self, seconds):
            allotted.append(float(seconds))
            super().__init__(seconds)

    with pytest.MonkeyPatch.context() as mp:
        for module in (recipe, recipe_steps, recipe_baseline, recipe_estimate, recipe_final):
            mp.setattr(module, "Budget", Recorded)
        mp.setattr(recipe_final, "evaluate_test", counted_test)
        mp.setattr(recipe, "baseline_step", counted_baseline)
        mp.setattr(recipe, "round_step", interrupted_round)
        with pytest.raises(KeyboardInterrupt):
            improve("iris", budget=BUDGET, out=str(out), name="iris", members=4,
                    log=lines.append)
        first = dict(calls)
        state = json.loads((out / "iris.partial" / "improve_state.json").read_text())
        mp.setattr(recipe, "round_step", real_round)
        events: list[dict] = []
        result = improve("iris", budget=BUDGET, out=str(out), name="iris", members=4,
                         log=lines.append, progress=events.append)
    return {"result": result, "calls": calls, "first": first, "state": state,
            "out": out, "lines": lines, "allotted": allotted, "events": events}


def test_interrupted_improve_resumes_from_its_last_completed_step(run):
    assert run["first"] == {"test": 0, "baseline": 1}
    assert set(run["state"]["steps"]) == {"baseline"}
    assert run["calls"]["baseline"] == 1  # the resumed run did not train a baseline again
    assert not (run["out"] / "iris.partial").exists()
    assert run["result"].run_dir == run["out"] / "iris"


def test_test_set_is_evaluated_exactly_once(run):
    assert run["calls"]["test"] == 1
    assert sum(d["rule"] == "test set evaluated once" for d in run["result"].decisions) == 1


def test_every_step_trains_under_a_slice_of_the_budget(run):
    """No wall-clock bound: the recipe hands each fit a Budget (enforced by the Deadline
    callback, tests/train/test_deadline.py), and no slice exceeds what the budget allows."""
    allotted = run["allotted"]
    assert len(allotted) >= 3  # the two runs' clocks and at least the baseline's fits
    assert all(0.0 <= a <= BUDGET for a in allotted)
    assert run["result"].budget == BUDGET


def test_every_decision_has_rule_numbers_and_action(run):
    decisions = json.loads((run["result"].run_dir / "decisions.json").read_text())
    assert decisions == run["result"].decisions
    steps = [d["step"] for d in decisions]
    assert steps[0] == "baseline" and steps[-1] == "final"
    assert any(s.startswith("round") for s in steps)
    for d in decisions:
        assert set(d) == {"step", "rule", "numbers", "action"}
        assert d["rule"] and d["numbers"] and d["action"]
        assert any(ch.isdigit() for ch in d["numbers"])
    rules = {d["rule"] for d in decisions}
    assert {"lowest dev error", "bias / variance verdict"} <= rules
    verdict = next(d for d in decisions if d["rule"] == "bias / variance verdict")
    if verdict["action"] != "good":
        assert rules & {"dev gain", "no dev gain", "budget spent", "round too short"}


def test_final_choice_is_the_lowest_dev_error(run):
    final = run["result"].final
    kinds = [r["predictor"].split()[-1] for r in final["table"]]
    # iris is small: a cross-fit, or on a slow machine a refit on every row
    assert kinds in (["ensemble", "single"], ["ensemble", "single"] * 2, ["ensemble"],
                     ["ensemble", "estimate"])
    errors = {r["predictor"]: r["dev_error"] for r in final["table"] if r["dev_error"] is not None}
    rules = {d["rule"] for d in run["result"].decisions}
    if errors[final["chosen"]] != min(errors.values()):  # only a steadier ensemble, in noise
        assert final["chosen"].endswith("ensemble")
        assert "an ensemble within one standard error" in rules
    summary = json.loads((run["result"].run_dir / "summary.json").read_text())
    assert summary["chosen"].startswith(final["chosen"])
    assert summary["best"]["test_error"] == pytest.approx(final["test_error"])
    assert 0.0 <= final["test_error"] <= 1.0


def test_run_directory_is_report_ready(run):
    from netrx.experiment.predictor import load
    from netrx.report import build_report

    d = run["result"].run_dir
    for f in ("config.yaml", "history.csv", "summary.json", "preprocess.json",
              "weights.safetensors", "decisions.json", "bias_variance.json"):
        assert (d / f).is_file(), f
    steps = json.loads((d / "bias_variance.json").read_text())
    assert steps and {"step", "verdict", "avoidable_bias", "variance"} <= set(steps[0])
    if (d / "trials.csv").is_file():  # a round tuned: Optuna-style parameter columns
        trials = pd.read_csv(d / "trials.csv")
        assert {"number", "value", "state"} <= set(trials.columns)
        assert any(c.startswith("params_") for c in trials.columns)
    html = build_report(d).read_text()
    assert "Decision log" in html and "Bias and variance" in html
    pred = load(d)  # the run directory loads back as a predictor
    X = pd.DataFrame([[5.1, 3.5, 1.4, 0.2]], columns=pred.columns)
    assert pred.predict(X)[0] in pred.classes


def test_a_finished_run_directory_is_not_overwritten(run):
    from netrx.errors import ConfigError

    with pytest.raises(ConfigError, match="already exists") as e:
        improve("iris", budget=5, out=str(run["out"]), name="iris", members=4)
    assert "--overwrite" in str(e.value)


def test_overwrite_replaces_a_finished_run(tmp_path):
    first = improve("iris", budget=4, out=str(tmp_path), name="o", members=2, log=print)
    (first.run_dir / "mine.txt").write_text("left by the first run")
    again = improve("iris", budget=4, out=str(tmp_path), name="o", members=2, log=print,
                    overwrite=True)
    assert again.run_dir == first.run_dir and not (again.run_dir / "mine.txt").exists()
    assert (again.run_dir / "summary.json").is_file()


def test_progress_events_feed_a_live_view_and_a_report_of_the_run_so_far(run, tmp_path):
    from rich.console import Console

    from netrx.cli.improve_view import ImproveView
    from netrx.report import build_report

    events = run["events"]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and "decision" in kinds and "step_done" in kinds
    done = [e for e in events if e["event"] == "step_done"]
    assert done[0]["step"] == "baseline" and done[0]["dev_error"] is not None
    console = Console(record=True, width=100)
    view = ImproveView(console)
    for e in events:
        if e["event"] != "step_done":  # the partial directory is gone once finished
            view(e)
    view({"event": "trials", "step": "round1", "complete": 3, "pruned": 5, "running": 4,
          "planned": 40, "best": 0.05})
    console.print(view.render())
    text = console.export_text()
    assert "netrx improve — iris" in text and "of 16 s" in text
    assert "3 complete, 5 pruned, 4 running (of 40 planned)" in text
    # what the partial directory held after a step: a page of the run so far
    d = tmp_path / "partial"
    d.mkdir()
    final = run["out"] / "iris"
    for f in ("decisions.json", "bias_variance.json", "progress.json"):
        (d / f).write_text((final / f).read_text())
    html = build_report(d).read_text()
    assert "(in progress)" in html and "Decision log" in html


def test_improve_without_a_test_set_trains_on_every_row(tmp_path):
    """``--test 0``: a user who keeps the test set gets no internal one; every row trains or
    judges, nothing claims a test figure, and the run still predicts and reports."""
    from typer.testing import CliRunner

    from netrx.cli.app import app

    result = CliRunner().invoke(app, ["improve", "iris", "--budget", "4", "--members", "2",
                                      "--test", "0", "--out", str(tmp_path), "--name", "t0"])
    assert result.exit_code == 0, result.output
    assert "no test set (--test 0)" in result.output
    d = tmp_path / "t0"
    summary = json.loads((d / "summary.json").read_text())
    data = summary["data"]
    assert data["n_test"] == 0 and data["n_train"] + data["n_dev"] == 150
    assert not any(k.startswith("test_") for k in summary["best"])
    rules = {e["rule"] for e in json.loads((d / "decisions.json").read_text())}
    assert "test set evaluated once" not in rules
    assert (d / "report.html").is_file() and not (d / "test_predictions.csv").exists()
    predicted = CliRunner().invoke(app, ["predict", str(d), "iris"])
    assert predicted.exit_code == 0, predicted.output


def test_small_data_without_time_for_a_cross_fit_refits_on_every_row(tmp_path, monkeypatch):
    """The fallback of a cross-fit the time cannot hold: the lower estimate's config as K
    fresh seeds on train ∪ dev for its estimate's restored epoch, the ensemble used."""
    monkeypatch.setattr(recipe_final, "_crossfit_fits", lambda *a, **k: False)
    seen = {}
    real = recipe_final.refit_candidates

    def spy(ctx, plan, budget):
        seen["epochs"] = plan["config"].get("best_epoch")
        return real(ctx, plan, budget)

    monkeypatch.setattr(recipe_final, "refit_candidates", spy)
    result = improve("iris", budget=8, out=str(tmp_path), name="r", members=2, log=print)
    rules = [d["rule"] for d in result.decisions]
    assert "refit on every row" in rules
    summary = json.loads((result.run_dir / "summary.json").read_text())
    data = summary["data"]
    assert data["n_dev"] == 0 and data["n_train"] == 120 and data["n_test"] == 30
    members = result.final["members"]  # batches of 2 seeds while the time holds another
    assert result.final["chosen"].endswith("ensemble") and len(members) % 2 == 0
    assert 2 <= len(members) <= 2 * recipe_refit.MAX_BATCHES
    assert rules.count("test set evaluated once") == 1
    history = pd.read_csv(result.run_dir / "history.csv")
    assert history["epoch"].max() == max(5, seen["epochs"])  # no early stopping: no dev rows
