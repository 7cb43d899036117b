"""The batched ask/tell engine: strategies, slots, pruning, divergence, grouping."""

import math

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from netrx.config import parse_config
from netrx.experiment import run
from netrx.tune import tune
from netrx.tune.exports import curve_of, epochs_of, reason_of
from netrx.tune.liveness import REASON, STAGE


def _finished(study):
    return all(t.state.is_finished() for t in study.get_trials())


@pytest.mark.parametrize("strategy", ["grid", "random", "sobol", "tpe"])
def test_every_strategy_runs_a_study(tiny, strategy):
    cfg = tiny(strategy=strategy, trials=5, startup_trials=2,
               space={"optimizer.lr": "log_uniform(1e-3, 1e-1)",
                      "optimizer.b2": "one_minus_log(0.9, 0.999)"})
    cfg["search"]["grid_points"] = 2  # grid: 2 × 2 = 4 combinations < 5 trials
    result = tune(cfg, storage="memory", write=False)
    trials = result.study.get_trials()
    assert len(trials) == (4 if strategy == "grid" else 5)
    assert _finished(result.study)
    assert all(t.state == TrialState.COMPLETE and 0 <= t.value <= 1 for t in trials)
    values = [result.config.space.decode(t.params) for t in trials]
    for v in values:
        assert 1e-3 <= v["optimizer.lr"] <= 1e-1 and 0.9 <= v["optimizer.b2"] <= 0.999
    if strategy == "grid":  # every combination once, on the keys' scales
        combos = {(round(v["optimizer.lr"], 6), round(v["optimizer.b2"], 6)) for v in values}
        assert combos == {(a, b) for a in (0.001, 0.1) for b in (0.9, 0.999)}


def test_slot_trials_equal_single_runs_of_their_configs(tiny):
    """A trial trained in a slot — beside others, after a refill, after the population
    shrank, in its architecture/batch-size group — ends exactly where `netrx train` of its
    config ends (no dropout, so every run is deterministic)."""
    cfg = tiny(trials=9, slots=3, metric="dev_loss", space={
        "optimizer.lr": "log_uniform(1e-3, 1e-1)",
        "optimizer.b1": "uniform(0.5, 0.95)",
        "regularization.l2": "log_uniform(1e-4, 1e-1)",
        "regularization.max_norm": "uniform(0.5, 3)",
        "optimizer.schedule.decay_rate": "uniform(0.1, 2)",
        "model.hidden": "choice([6], [9])",
        "train.batch_size": "choice(16, 32)"})
    cfg["model"]["batch_norm"] = True
    cfg["optimizer"] = {"name": "adam", "schedule": {"name": "inverse_time", "decay_rate": 1}}
    result = tune(cfg, storage="memory", write=False)
    stats = result.engine.stats
    assert len(stats["groups"]) >= 2  # the architecture and batch size split the trials
    for g in stats["groups"]:  # trials of one population share hidden and batch size
        values = [result.config.space.decode(result.study.trials[n].params) for n in g["trials"]]
        assert len({(str(v["model.hidden"]), v["train.batch_size"]) for v in values}) == 1
    assert stats["compactions"] >= 1 or any(len(g["trials"]) > g["slots"]
                                            for g in stats["groups"])
    refilled = [n for g in stats["groups"] for n in g["trials"][g["slots"]:]]
    assert refilled, "no slot was refilled"
    for t in result.study.get_trials():
        assert t.state == TrialState.COMPLETE
        values = result.config.space.decode(t.params)
        single = run(parse_config(result.config.trial_config(values)), progress=False,
                     write=False)
        curve = single.history.metric("dev_loss")[:, 0]
        np.testing.assert_allclose(curve_of(t), curve, rtol=1e-4, atol=1e-5)
        assert t.value == pytest.approx(curve[-1], rel=1e-5, abs=1e-6)


def test_pruned_trials_free_their_slots(tiny):
    cfg = tiny(trials=15, slots=3, pruner="asha", min_epochs=1, reduction_factor=3,
               max_epochs=9, space={"optimizer.lr": "log_uniform(1e-4, 3e-1)"})
    result = tune(cfg, storage="memory", write=False)
    trials = result.study.get_trials()
    assert len(trials) == 15 and _finished(result.study)
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned and complete
    for t in pruned:
        assert epochs_of(t) < 9 and reason_of(t).startswith("pruned at epoch")
        assert epochs_of(t) in (1, 3)  # pruned at a rung
    assert all(epochs_of(t) == 9 for t in complete)
    stats = result.engine.stats
    # every trial epoch happened in a slot, and slots were busy: a pruned trial's slot
    # got the next trial at once (idle slots appear only in the tail)
    assert stats["trial_epochs"] == sum(epochs_of(t) for t in trials)
    assert stats["trial_epochs"] / stats["slot_epochs"] > 0.75
    assert sum(epochs_of(t) for t in trials) < 15 * 9 * 0.7  # pruning saved work


def test_diverging_trials_never_complete(tiny):
    cfg = tiny(trials=8, slots=4, strategy="random",
               space={"optimizer.lr": "choice(0.01, 1e9)"})
    cfg["optimizer"] = {"name": "sgd"}
    result = tune(cfg, storage="memory", write=False)
    trials = result.study.get_trials()
    assert len(trials) == 8 and _finished(result.study)
    space = result.config.space
    lrs = [space.decode(t.params)["optimizer.lr"] for t in trials]
    assert {0.01, 1e9} <= set(lrs)
    for t, lr in zip(trials, lrs):
        if lr == 1e9:
            assert t.state in (TrialState.FAIL, TrialState.PRUNED)
            assert t.user_attrs[REASON].startswith("diverged")
            assert t.value is None or math.isfinite(t.value)
        else:
            assert t.state == TrialState.COMPLETE and math.isfinite(t.value)
    best = result.study.best_trial
    assert space.decode(best.params)["optimizer.lr"] == 0.01


def test_coarse_to_fine_narrows_in_log_space(tiny):
    logs = []
    cfg = tiny(strategy="coarse_to_fine", trials=12, slots=4, coarse_fraction=0.5, q=0.34,
               margin=0.05, space={"optimizer.lr": "log_uniform(1e-5, 1)",
                                   "optimizer.b2": "one_minus_log(0.5, 0.9999)",
                                   "model.hidden": "choice([4], [8], [12])"})
    result = tune(cfg, storage="memory", write=False, log=logs.append)
    study = result.study
    trials = study.get_trials()
    assert len(trials) == 12 and _finished(study)
    stages = [t.user_attrs[STAGE] for t in trials]
    assert stages.count("coarse") == 6 and stages.count("fine") == 6
    record = study.user_attrs["netrx:box"]
    box = record["box"]
    space = result.config.space
    coarse = sorted((t for t in trials if t.user_attrs[STAGE] == "coarse"),
                    key=lambda t: t.value)
    top = coarse[:math.ceil(0.34 * 6)]
    assert record["top"] == [t.number for t in top]
    lrs = [space.decode(t.params)["optimizer.lr"] for t in top]
    # the box is [min, max] of the top trials widened by 5% of the range, in log10 α
    lo = 10 ** max(-5, math.log10(min(lrs)) - 0.05 * 5)
    hi = 10 ** min(0, math.log10(max(lrs)) + 0.05 * 5)
    assert box["optimizer.lr"]["lo"] == pytest.approx(lo, rel=1e-9)
    assert box["optimizer.lr"]["hi"] == pytest.approx(hi, rel=1e-9)
    assert box["optimizer.lr"]["scale"] == "log"
    assert box["optimizer.b2"]["scale"] == "one_minus_log"
    assert set(map(str, box["model.hidden"]["choices"])) == \
        {str(space.decode(t.params)["model.hidden"]) for t in top}
    for t in trials:
        if t.user_attrs[STAGE] == "fine":
            v = space.decode(t.params)
            assert box["optimizer.lr"]["lo"] <= v["optimizer.lr"] <= box["optimizer.lr"]["hi"]
            b2 = box["optimizer.b2"]
            assert b2["lo"] - 1e-12 <= v["optimizer.b2"] <= b2["hi"] + 1e-12
            assert str(v["model.hidden"]) in map(str, box["model.hidden"]["choices"])
    assert any("coarse_to_fine: box around the best" in line for line in logs)


def test_a_fine_stage_enqueued_twice_trains_each_point_once(tiny, monkeypatch):
    """Two workers that see the coarse stage end at the same moment both enqueue the fine
    stage, and Optuna's ``skip_if_exists`` (a read, then a write) lets both copies in:
    each fine point still trains once (issue 16: an exact budget under any workers)."""
    from netrx.tune import fine_stage

    enqueue = optuna.Study.enqueue_trial
    monkeypatch.setattr(optuna.Study, "enqueue_trial",  # the race: both copies get in
                        lambda self, params, user_attrs=None, skip_if_exists=False:
                        enqueue(self, params, user_attrs))

    def seen_by_two(study, source):  # a second worker saw the fine stage not started yet
        fine = sum(t.user_attrs.get(STAGE) == "fine" for t in study.get_trials(deepcopy=False))
        return source.c2f and source.n_fine > 0 and fine < 2 * source.n_fine

    monkeypatch.setattr(fine_stage, "fine_to_come", seen_by_two)
    cfg = tiny(strategy="coarse_to_fine", trials=8, slots=4, coarse_fraction=0.5, q=0.5)
    trials = tune(cfg, storage="memory", write=False).study.get_trials()
    fine = [t for t in trials if t.user_attrs.get(STAGE) == "fine"]
    assert len(fine) == 8  # 4 points, each enqueued twice
    trained = [t for t in fine if t.state == TrialState.COMPLETE]
    assert len(trained) == 4, f"{len(trained)} fine trials trained for 4 points"
    assert sorted(t.user_attrs["netrx:fine_index"] for t in trained) == [0, 1, 2, 3]
    for t in fine:
        if t not in trained:
            assert t.state == TrialState.FAIL and not t.intermediate_values
            assert t.user_attrs[REASON].startswith("over budget: never run, a second copy")
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 8


def test_narrow_box_is_computed_on_each_scale():
    from netrx.tune.coarse_to_fine import narrow
    from netrx.tune.space import Space

    space = Space.from_mapping({"lr": "log_uniform(1e-6, 1)", "b": "one_minus_log(0.9, 0.9999)",
                                "u": "uniform(0, 10)", "n": "int(1, 100, log)",
                                "c": "choice(a, b, c)"})
    best = [{"lr": 1e-4, "b": 0.99, "u": 2.0, "n": 10, "c": "a"},
            {"lr": 1e-2, "b": 0.999, "u": 4.0, "n": 20, "c": "c"}]
    fine, box = narrow(space, best, margin=0.0)
    assert box["lr"]["lo"] == pytest.approx(1e-4) and box["lr"]["hi"] == pytest.approx(1e-2)
    assert box["b"]["lo"] == pytest.approx(0.99) and box["b"]["hi"] == pytest.approx(0.999)
    assert (box["u"]["lo"], box["u"]["hi"]) == pytest.approx((2.0, 4.0))
    assert fine.params["c"].dist.args == ("a", "c")
    _, wide = narrow(space, best, margin=0.1)  # 10% of 6 decades = 0.6 decade each side
    assert wide["lr"]["lo"] == pytest.approx(10 ** -4.6)
    assert wide["lr"]["hi"] == pytest.approx(10 ** -1.4)
    assert wide["b"]["hi"] == pytest.approx(1 - 10 ** (-3 - 0.3))  # 1 − β: 3 decades × 0.1
    assert wide["u"]["lo"] == pytest.approx(1.0)


def test_member_wise_keys_share_a_population_and_others_split():
    from netrx.tune.settings import load_tune_config
    from netrx.tune.source import group_of

    cfg = load_tune_config({"data": {"dataset": "iris"}, "search": {"space": {
        "optimizer.lr": "log_uniform(1e-4, 1)", "regularization.l2": "choice(0, 1e-3, 1e-2)",
        "model.hidden": "choice([4], [8])", "train.batch_size": "int(8, 64, log)"}}})

    def key(lr=0.1, l2=1e-3, hidden=(4,), batch=16):
        return group_of(cfg, {"optimizer.lr": lr, "regularization.l2": l2,
                              "model.hidden": list(hidden), "train.batch_size": batch})

    assert key() == key(lr=0.001, l2=1e-2)  # lr and λ are per-member tensors
    assert len({key(), key(l2=0), key(hidden=(8,)), key(batch=17)}) == 4  # λ off, width,
    # batch size: other populations


def test_importance_needs_enough_completed_trials(tiny):
    from netrx.tune.exports import importance

    few = tune(tiny(trials=3), storage="memory", write=False)
    imp = importance(few.study, few.config.space)
    assert not imp["available"] and "at least 10 completed trials" in imp["reason"]
    many = tune(tiny(trials=12, slots=6, space={"optimizer.lr": "log_uniform(1e-4, 1)",
                                                "optimizer.b1": "uniform(0.5, 0.99)"}),
                storage="memory", write=False)
    imp = importance(many.study, many.config.space)
    assert imp["available"] and {e["key"] for e in imp["keys"]} == {"optimizer.lr",
                                                                    "optimizer.b1"}
    assert sum(e["importance"] for e in imp["keys"]) == pytest.approx(1.0)


def test_optuna_is_not_imported_by_netrx():
    import subprocess
    import sys

    code = "import sys, netrx, netrx.tune; print('optuna' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_in_memory_and_default_studies_are_independent(tiny, tmp_path):
    tune(tiny(trials=2), out=str(tmp_path), name="r")
    assert (tmp_path / "r" / "study.db").is_file()
    assert optuna.load_study(study_name="r", storage=f"sqlite:///{tmp_path}/r/study.db")


def test_regularizers_switched_on_and_off_are_searched(tiny):
    cfg = tiny(trials=12, slots=4, space={
        "optimizer.lr": "log_uniform(1e-3, 1e-1)",
        "regularization.max_norm": "choice(None, 2.0)",  # off is None
        "regularization.l2": "choice(0, 0.01)",  # off is 0
        "model.dropout": "choice(0.0, 0.2)"})  # off builds no Dropout layer at all
    result = tune(cfg, storage="memory", write=False)
    trials = result.study.get_trials()
    assert len(trials) == 12 and all(t.state == TrialState.COMPLETE for t in trials)
    seen = {(v["regularization.max_norm"], v["regularization.l2"], v["model.dropout"])
            for v in (result.config.space.decode(t.params) for t in trials)}
    assert len(seen) > 1 and len(result.engine.stats["groups"]) >= len(seen)
