"""`python -m netrx.tune.worker`: one worker on a study, no outputs, 0 / 2 / 130."""

import subprocess
import sys

import optuna
import yaml
from optuna.trial import TrialState

from netrx.tune import search, worker
from netrx.tune.liveness import REASON


def _args(tiny, tmp_path, **search_):
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(tiny(**search_)))
    url = f"sqlite:///{tmp_path}/study.db"
    return [str(path), "--storage", url, "--study", "s", "--name", "w", "--out",
            str(tmp_path)], url


def test_a_worker_runs_the_study_and_writes_nothing(tiny, tmp_path):
    args, url = _args(tiny, tmp_path)
    assert worker.main([*args, "--trials", "3", "--slots", "2"]) == 0
    trials = optuna.load_study(study_name="s", storage=url).get_trials()
    assert len(trials) == 3 and all(t.state == TrialState.COMPLETE for t in trials)
    assert not (tmp_path / "w").exists()  # the process that started it writes the outputs


def test_an_interrupted_worker_gives_its_trials_back_and_exits_130(tiny, tmp_path,
                                                                   monkeypatch):
    args, url = _args(tiny, tmp_path, trials=6, slots=2)
    after_epoch = search.Engine.after_epoch
    calls = 0

    def ctrl_c(self, *a):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        after_epoch(self, *a)

    monkeypatch.setattr(search.Engine, "after_epoch", ctrl_c)
    assert worker.main(args) == 130
    trials = optuna.load_study(study_name="s", storage=url).get_trials()
    assert not any(t.state == TrialState.RUNNING for t in trials)
    given_back = [t for t in trials if t.state == TrialState.FAIL]
    assert given_back and all(t.user_attrs[REASON] == "interrupted by the user"
                              for t in given_back)


def test_a_worker_error_is_one_line_and_exit_status_2(tiny, tmp_path):
    args, _ = _args(tiny, tmp_path, strategy="tpx")
    done = subprocess.run([sys.executable, "-m", "netrx.tune.worker", *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "did you mean 'tpe'" in done.stderr and "Traceback" not in done.stderr


def test_an_unexpected_error_exits_1_and_says_why_without_the_password(tiny, tmp_path,
                                                                       monkeypatch, capsys):
    from netrx.tune import api

    url = "postgresql://netrx:hunter2-pw@db.example/netrx"

    def lost(*args, **kwargs):
        raise RuntimeError(f"server closed the connection ({url})")

    monkeypatch.setattr(api, "tune", lost)
    args, _ = _args(tiny, tmp_path)
    args[args.index("--storage") + 1] = url
    assert worker.main(args) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "hunter2-pw" not in err
    assert err.strip().splitlines()[-1] == ("error: worker failed: RuntimeError: server closed "
                                            "the connection (postgresql://netrx:***@db.example"
                                            "/netrx)")
