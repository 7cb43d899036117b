"""`tune()` on data prepared once, and the best trial's run config in memory."""

import pytest

from netrx.config import load_yaml, parse_config
from netrx.experiment import prepared as prepared_module
from netrx.tune import tune
from netrx.tune.settings import load_tune_config


def test_prepared_data_is_used_and_best_config_is_best_yaml(tiny, tmp_path, monkeypatch):
    cfg = tiny(trials=3)
    data = prepared_module.prepare(load_tune_config(cfg).run)

    def again(run):
        raise AssertionError("tune(prepared=...) prepared the data again")

    monkeypatch.setattr(prepared_module, "prepare", again)
    result = tune(cfg, prepared=data, out=str(tmp_path), name="p")
    assert result.best is not None and result.engine.prepared is data
    best = result.best_config
    assert best is not None
    assert best == parse_config(load_yaml(tmp_path / "p" / "best.yaml"))
    assert best.name == "p-best" and best.members == 1
    assert best.optimizer.lr == pytest.approx(result.best["values"]["optimizer.lr"])


def test_best_config_is_none_without_a_completed_trial(tiny, tmp_path):
    result = tune(tiny(trials=2), budget=1e-9, out=str(tmp_path), name="n")
    assert result.best is None and result.best_config is None
    assert not (tmp_path / "n" / "best.yaml").exists()


def test_a_study_whose_budget_is_spent_keeps_no_waiting_trial(tiny, tmp_path):
    """Queued trials that the budget never reached (a fine stage enqueued ahead, trials
    given back at the deadline) end FAIL with a reason instead of staying WAITING."""
    from optuna.trial import TrialState

    from netrx.tune.liveness import REASON

    url = f"sqlite:///{tmp_path / 'w.db'}"
    first = tune(tiny(trials=8), storage=url, study="w", out=str(tmp_path), name="w")
    for lr in (0.01, 0.02, 0.03):  # what a fine stage enqueues
        first.study.enqueue_trial({"optimizer.lr": lr})
    assert sum(t.state == TrialState.WAITING for t in first.study.trials) == 3
    again = tune(tiny(trials=11), storage=url, study="w", budget=1e-9, out=str(tmp_path),
                 name="w2")
    trials = again.study.get_trials()
    assert all(t.state != TrialState.WAITING for t in trials)
    never = [t for t in trials if t.state == TrialState.FAIL]
    assert len(never) == 3
    assert {t.user_attrs[REASON] for t in never} == {
        "never started: the study's time budget was spent"}
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 8
