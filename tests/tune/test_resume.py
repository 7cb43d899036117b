"""Interruption and resume; heartbeats, stale RUNNING trials and their single retry."""

import optuna
import pytest
from optuna.trial import TrialState

from netrx.errors import ConfigError
from netrx.tune import tune
from netrx.tune.liveness import REASON, RETRIES, RETRY_OF, WORKER, Liveness, fail_and_retry
from netrx.tune.storage import open_storage, open_study


def _study(tmp_path, name="r"):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/{name}/study.db")


def test_interrupted_study_resumes_without_losing_or_replaying(tiny, tmp_path):
    cfg = tiny(trials=10, slots=2, space={"optimizer.lr": "log_uniform(1e-3, 1e-1)",
                                          "optimizer.b1": "uniform(0.5, 0.95)"})
    epochs = 0

    def ctrl_c(engine):
        nonlocal epochs
        epochs += 1
        if epochs == 6:  # two trials done (4 epochs each), two more half way
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tune(cfg, out=str(tmp_path), name="r", on_epoch=ctrl_c)
    first = _study(tmp_path).get_trials()
    assert not any(t.state == TrialState.RUNNING for t in first)
    done = {t.number: (t.value, t.params) for t in first if t.state == TrialState.COMPLETE}
    given_back = [t for t in first if t.state == TrialState.FAIL]
    assert len(done) == 2 and given_back
    assert all(t.user_attrs[REASON] == "interrupted by the user" for t in given_back)
    assert sum(t.state == TrialState.WAITING for t in first) == len(given_back)

    result = tune(cfg, out=str(tmp_path), name="r")  # the same call again resumes
    trials = result.study.get_trials()
    for number, (value, params) in done.items():  # completed trials are kept as they were
        assert trials[number].state == TrialState.COMPLETE
        assert (trials[number].value, trials[number].params) == (value, params)
    assert all(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in trials)
    retries = [t for t in trials if RETRY_OF in t.user_attrs]
    assert sorted(t.user_attrs[RETRY_OF] for t in retries) == sorted(t.number for t in given_back)
    for r in retries:  # retried with the same parameters
        assert r.params == trials[r.user_attrs[RETRY_OF]].params
        assert r.state == TrialState.COMPLETE
    fresh = [t for t in trials if RETRY_OF not in t.user_attrs]
    assert len(fresh) == 10  # the budget counts configurations, not retries
    lrs = [t.params["optimizer.lr"] for t in fresh]
    assert len(set(lrs)) == len(lrs)  # the resumed sampler did not replay earlier draws
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 10
    best = min(t.value for t in trials if t.state == TrialState.COMPLETE)
    assert result.summary["best"]["value"] == best


def test_a_study_refuses_another_space(tiny, tmp_path):
    tune(tiny(trials=1), out=str(tmp_path), name="r")
    other = tiny(trials=1, space={"optimizer.lr": "log_uniform(1e-4, 1e-1)"})
    with pytest.raises(ConfigError, match="another search space"):
        tune(other, out=str(tmp_path), name="r")
    more = tiny(trials=2)  # a larger budget for the same space extends the study
    assert len(tune(more, out=str(tmp_path), name="r").study.get_trials()) == 2


def _worker(study, wid, *, host="elsewhere", pid=1, beat=1):
    study.set_user_attr(f"netrx:worker:{wid}", {"host": host, "pid": pid, "beat": beat,
                                                "time": 0.0, "started": 0.0, "done": False})


def _running(study, wid, x=0.5):
    t = study.ask()
    t.suggest_float("x", 0, 1)
    t.set_user_attr(WORKER, wid)
    return t


def test_stale_trials_are_failed_and_retried_exactly_once(tmp_path):
    study = open_study(open_storage(f"sqlite:///{tmp_path}/s.db"), "s")
    clock = [0.0]
    live = Liveness(study, interval=1, grace=10, retries=1, clock=lambda: clock[0])
    live.register()
    _worker(study, "w1")  # on another machine: judged by its heartbeat counter only
    lost = _running(study, "w1")
    _worker(study, "w3")
    alive = _running(study, "w3")
    assert live.reap() == []  # first sight starts the grace period
    for now in (5.0, 11.0, 16.0, 22.0):
        clock[0] = now
        _worker(study, "w3", beat=int(now))  # w3 keeps beating, w1 is silent
        marked = live.reap()
        assert marked == ([lost.number] if now == 11.0 else [])
    trials = {t.number: t for t in study.get_trials()}
    assert trials[lost.number].state == TrialState.FAIL
    assert "no heartbeat" in trials[lost.number].user_attrs[REASON]
    assert trials[alive.number].state == TrialState.RUNNING
    waiting = [t for t in trials.values() if t.state == TrialState.WAITING]
    assert len(waiting) == 1
    assert waiting[0].user_attrs[RETRY_OF] == lost.number
    assert waiting[0].user_attrs[RETRIES] == 1

    # the retry runs on w2, which is lost too: FAIL, and no second retry
    retry = study.ask()
    assert retry.number == waiting[0].number
    assert retry.suggest_float("x", 0, 1) == lost.params["x"]
    retry.set_user_attr(WORKER, "w2")
    _worker(study, "w2")
    live.reap()
    clock[0] = 40.0
    _worker(study, "w3", beat=40)
    assert live.reap() == [retry.number]
    assert not [t for t in study.get_trials() if t.state == TrialState.WAITING]


def test_a_dead_local_worker_is_found_at_once_and_only_one_reaper_wins(tmp_path):
    import subprocess
    import sys

    study = open_study(open_storage(f"sqlite:///{tmp_path}/s.db"), "s")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = Liveness(study, interval=1, grace=1000, retries=1)
    live.register()
    _worker(study, "gone", host=live.host, pid=dead.pid)
    t = _running(study, "gone")
    snapshot = study.get_trials()[t.number]
    assert live.reap() == [t.number]
    assert "no longer running" in study.get_trials()[t.number].user_attrs[REASON]
    # a second worker that saw the same RUNNING trial loses the transition
    assert fail_and_retry(study, snapshot, "also lost", retries=1) is False
    assert sum(x.state == TrialState.WAITING for x in study.get_trials()) == 1
    assert live.reap() == []  # nothing left to take


def test_own_trials_and_finished_workers(tmp_path):
    study = open_study(open_storage("memory"), "s")
    live = Liveness(study, interval=1, grace=10, retries=0)
    live.register()
    mine = _running(study, live.id)
    assert live.reap() == []  # never its own
    study.set_user_attr("netrx:worker:quit", {"host": "x", "pid": 1, "beat": 3, "time": 0,
                                              "started": 0, "done": True})
    orphan = _running(study, "quit")
    assert live.reap() == [orphan.number]  # a worker that exited cleanly left it behind
    assert not [t for t in study.get_trials() if t.state == TrialState.WAITING]  # retries=0
    assert study.get_trials()[mine.number].state == TrialState.RUNNING
    assert live.others_running() == 0
