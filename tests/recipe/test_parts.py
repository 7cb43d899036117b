"""The pieces of `netrx improve`: families per input kind, the log-scale learning rates,
the search space from prescriptions, residual families in a population, bad input."""

import math

import numpy as np
import pytest
from typer.testing import CliRunner

from netrx.cli.app import app
from netrx.config import parse_config
from netrx.diagnose import Change, Prescription
from netrx.errors import ConfigError
from netrx.recipe.plan import families_for, learning_rates, search_space
from netrx.recipe.round import within_families
from netrx.recipe.steps import patience_for

runner = CliRunner()


@pytest.mark.parametrize("shape, columns, expected", [
    ((4,), ("sepal", "petal", "a", "b"), ("mlp",)),
    ((40,), tuple(f"x{i}" for i in range(40)), ("mlp", "cnn1d", "resnet1d")),
    ((2, 64), None, ("mlp", "cnn1d", "resnet1d")),
    ((1, 8, 8), None, ("mlp", "cnn2d", "resnet2d")),
    ((28, 28), None, ("mlp", "cnn2d", "resnet2d")),
])
def test_auto_family_follows_the_input_kind(shape, columns, expected):
    assert families_for("auto", shape, columns) == expected


def test_named_family_is_used_alone_and_unknown_is_refused():
    assert families_for("resnet1d", (40,)) == ("resnet1d",)
    with pytest.raises(ConfigError, match="transformer"):
        families_for("transformer", (4,))


def test_learning_rates_are_evenly_spaced_on_a_log_scale():
    lrs = learning_rates(8)
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(3e-2)
    steps = np.diff(np.log10(lrs))
    np.testing.assert_allclose(steps, (math.log10(3e-2) - math.log10(1e-4)) / 7, rtol=1e-9)


def test_search_space_from_prescriptions():
    cfg = parse_config({"model": {"hidden": [16]}, "train": {"epochs": 10}})
    ps = [Prescription("bias", "wider", "", (Change("model.hidden", [32]),)),
          Prescription("bias", "deeper", "", (Change("model.hidden", [16, 16]),)),
          Prescription("bias", "longer", "", (Change("train.epochs", 20),)),
          Prescription("variance", "l2", "", (Change("regularization.l2", 1.0),),
                       {"regularization.l2": "log_uniform(1e-2, 1e1)"}),
          Prescription("variance", "early stopping", "",
                       (Change("train.early_stopping.patience", 10),))]
    space, max_epochs = search_space(ps, cfg)
    assert space == {"model.hidden": "choice([16], [32], [16, 16])",
                     "regularization.l2": "log_uniform(1e-2, 1e1)"}
    assert max_epochs == 20


def test_high_bias_and_high_variance_search_one_range_holding_both_remedies():
    """"Less regularization" (below λ and the dropout rate) and "more regularization"
    (the variance remedies' ranges) on one path: the search covers both."""
    from netrx.diagnose import bias_remedies, variance_remedies

    cfg = parse_config({"model": {"hidden": [16], "dropout": 0.3},
                        "regularization": {"l2": 0.002}, "train": {"epochs": 10}})
    from netrx.tune.distributions import parse_distribution

    space, _ = search_space(bias_remedies(cfg) + variance_remedies(cfg), cfg)
    l2, rate = (parse_distribution(space[k]) for k in ("regularization.l2", "model.dropout"))
    assert l2.kind == "log_uniform" and l2.args == pytest.approx((0.002 / 30, 10.0))
    assert rate.kind == "uniform" and rate.args == pytest.approx((0.0, 0.5))


def test_a_named_family_is_not_overruled_by_the_different_architecture_remedy():
    ps = [Prescription("bias", "wider", "", (Change("model.hidden", [32]),)),
          Prescription("bias", "other family", "", (Change("model.family", "cnn1d"),))]
    assert within_families(ps, ("mlp",)) == ps[:1]
    assert within_families(ps, ("mlp", "cnn1d", "resnet1d")) == ps


def test_patience_grows_with_the_epochs_a_config_was_tuned_for():
    assert [patience_for(e) for e in (5, 40, 41, 400)] == [10, 10, 10, 100]


def test_search_space_starts_from_the_family_default_when_a_size_is_unset():
    cfg = parse_config({"model": {"family": "cnn1d"}})
    ps = [Prescription("bias", "wider", "", (Change("model.channels", 50),))]
    space, _ = search_space(ps, cfg)
    assert space == {"model.channels": "choice(25, 50)"}


def test_search_space_maps_channels_to_width_for_residual_families():
    cfg = parse_config({"model": {"family": "resnet1d", "width": 8}})
    ps = [Prescription("bias", "wider", "", (Change("model.channels", 16),))]
    space, _ = search_space(ps, cfg)
    assert space == {"model.width": "choice(8, 16)"}


@pytest.mark.parametrize("family, shape", [("resnet1d", (2, 16)), ("resnet2d", (1, 6, 6))])
def test_residual_families_train_in_a_population(tmp_path, family, shape):
    from netrx.experiment import run

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, *shape)).astype(np.float32)
    y = (X.reshape(60, -1).mean(1) > 0).astype(np.int64)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    cfg = parse_config({"data": {"dataset": str(tmp_path / "d.npz")}, "members": 2,
                        "model": {"family": family, "width": 4, "depth": 1, "dropout": 0.1},
                        "optimizer": {"lr": [1e-3, 1e-2]}, "train": {"epochs": 2}})
    result = run(cfg, write=False, progress=False)
    assert result.population.members == 2
    assert all(m["train_error"] is not None for m in result.members)
    flat = result.population.flat
    assert not np.allclose(flat[0].detach().numpy(), flat[1].detach().numpy())


def test_residual_family_options_are_checked():
    with pytest.raises(ConfigError, match="width"):
        parse_config({"model": {"family": "resnet1d", "width": 0}})


@pytest.mark.parametrize("args, message", [
    (["--family", "transformer"], "transformer"),
    (["--budget", "soon"], "soon"),
    (["--members", "1"], "members"),
])
def test_bad_input_exits_2(tmp_path, args, message):
    result = runner.invoke(app, ["improve", "iris", "--out", str(tmp_path), "--quiet", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_cli_improve_prints_the_decision_log_and_final_table(tmp_path):
    result = runner.invoke(app, ["improve", "iris", "--budget", "6s", "--members", "2",
                                 "--out", str(tmp_path), "--name", "c", "--quiet"])
    assert result.exit_code == 0, result.output
    for text in ("decision log", "lowest dev error", "ensemble", "test accuracy", "report:"):
        assert text in result.output
    # small data: a cross-fit (ensemble vs single), or where its time is short a refit
    text = " ".join(result.output.split())
    assert ("cross-fit" in text and "single" in text) or "refit on every row" in text
    assert (tmp_path / "c" / "report.html").is_file()


def test_state_keeps_completed_steps_plans_and_time_but_not_unfinished_decisions(tmp_path):
    from netrx.recipe.plan import State

    key = {"source": "iris", "budget": 10.0}
    path = tmp_path / "improve_state.json"
    state = State.open(path, key)
    state.data["decisions"].append({"step": "baseline", "rule": "r", "numbers": "1",
                                    "action": "a"})
    state.complete("baseline", {"dev_error": 0.1}, spent=3.0)
    assert state.remember("round1", {"trials": 13}) == {"trials": 13}
    state.data["decisions"].append({"step": "round1", "rule": "r", "numbers": "2",
                                    "action": "a"})  # round1 never completes
    state.interrupted(spent=7.5)
    again = State.open(path, key)
    assert again.done("baseline") == {"dev_error": 0.1} and again.done("round1") is None
    assert again.data["spent"] == 7.5
    assert [d["step"] for d in again.data["decisions"]] == ["baseline"]
    assert again.remember("round1", {"trials": 99}) == {"trials": 13}  # the first plan wins
    with pytest.raises(ConfigError, match="another"):
        State.open(path, {**key, "budget": 20.0})


def test_a_yaml_run_config_is_the_starting_point(tmp_path):
    from netrx.recipe.plan import base_config

    path = tmp_path / "c.yaml"
    path.write_text("data: {dataset: iris}\nmembers: 3\n"
                    "model: {hidden: [16], dropout: [0.1, 0.2, 0.3]}\n"
                    "optimizer: {name: adam, lr: [0.001, 0.01, 0.1]}\n"
                    "train: {epochs: 30, early_stopping: {patience: 5}}\n")
    cfg = base_config(str(path), target_error=0.05, seed=3)
    assert cfg.members == 1 and cfg.seed == 3 and cfg.data.target_error == 0.05
    assert cfg.model.hidden == [16] and cfg.model.dropout == 0.1 and cfg.optimizer.lr == 0.001
    assert cfg.train.early_stopping is None  # the tuner's pruner plays that role


def _round_context(tmp_path, total: float):
    """A Context on iris with ``total`` seconds and nothing spent yet."""
    from netrx.experiment import prepare
    from netrx.recipe.plan import State, _Log, base_config
    from netrx.recipe.steps import Context
    from netrx.train.deadline import Budget

    cfg0 = base_config("iris", target=None, target_error=None, seed=0, device="cpu",
                       name="r", out=str(tmp_path))
    state = State.open(tmp_path / "state.json", {"source": "iris"})
    lines: list[str] = []
    prepared = prepare(cfg0)  # before the clock starts: a cold import is not the test's time
    clock = Budget(total)
    ctx = Context(cfg0, prepared, clock, total, 0.0, 4, "mlp", tmp_path, _Log(
        state, lines.append), state, lambda: clock.elapsed)
    return ctx, state


def test_a_round_too_short_for_one_full_trial_stops_without_tuning(tmp_path):
    """A round needs the time of a short trial and the winner's estimate (5 folds on
    iris); with less it stops at once, logging why, instead of a tune that completes
    nothing."""
    from netrx.recipe.round import round_step

    ctx, state = _round_context(tmp_path, total=100.0)
    cfg = ctx.cfg0.model_dump(mode="json")
    cfg["train"]["epochs"] = 50
    # 2 s per epoch: 0.4 × the 80 s left holds 2 epochs of a trial and its 5-fold estimate
    # (restored at epoch 5: the final's refit on every row keeps only a few seconds)
    current = {"config": cfg, "train_error": 0.3, "dev_error": 0.4, "seconds": 100.0,
               "epochs_run": 50, "best_epoch": 5, "step": "baseline"}
    outcome = round_step(ctx, "round1", current)
    assert not outcome["accepted"] and outcome["stop"]
    last = state.data["decisions"][-1]
    assert last["rule"] == "round too short" and "stop tuning" in last["action"]
    assert not (tmp_path / "tune").exists()  # no study was started


def test_a_short_round_runs_shorter_trials(tmp_path, monkeypatch):
    """A slower machine costs epochs, not the whole round (MNIST-1D: a 188-epoch trial
    did not fit in 124 s and the round was dropped): the trials get the epochs that fit."""
    import netrx.tune
    from netrx.recipe.round import round_step

    class Planned(Exception):
        pass

    def planned(data, **kw):
        raise Planned(data["search"]["max_epochs"], data["optimizer"]["schedule"]["total"])

    monkeypatch.setattr(netrx.tune, "tune", planned)
    ctx, state = _round_context(tmp_path, total=100.0)
    cfg = ctx.cfg0.model_dump(mode="json")
    cfg["train"]["epochs"] = 50
    # a cosine over the run's 50 epochs; "train longer" asks for 100, a third of the round
    # holds 71 (0.4 s each): the trials' cosine spans those 71, and a 14-epoch trial is cut
    # (annealed over its own 14 it would end worse: bench/signal_default.py)
    cfg["optimizer"]["schedule"] = {"name": "cosine", "total": 50, "per": "epoch"}
    # 0.4 s per epoch; small data: the rounds get all but the reserve (4 s) and the
    # final's refits on every row (4 batches of 20/50 × 5 × 5/4 = 2.5 s, restored at epoch
    # 5), 86 s: 0.4 × 86 s / (0.4 s × (1 trial + 5 folds)) = 14 epochs fit
    current = {"config": cfg, "train_error": 0.3, "dev_error": 0.4, "seconds": 20.0,
               "epochs_run": 50, "best_epoch": 5, "step": "baseline"}
    with pytest.raises(Planned) as e:
        round_step(ctx, "round1", current)
    assert e.value.args == (14, 71)
    rules = [d["rule"] for d in state.data["decisions"]]
    assert "round short" in rules and "round too short" not in rules


def test_with_epochs_stretches_a_schedule_that_spanned_the_run():
    from netrx.recipe.steps import with_epochs

    def cfg(schedule):
        return parse_config({"train": {"epochs": 100}, "optimizer": {"schedule": schedule}})

    spanning = {"name": "cosine", "total": 100, "per": "epoch"}
    assert with_epochs(cfg(spanning), 200).optimizer.schedule["total"] == 200
    assert with_epochs(cfg(spanning), 30).train.epochs == 30
    # a schedule in steps, or one that ends before the run does, is the user's: kept
    for kept in ({"name": "cosine", "total": 100, "per": "step"},
                 {"name": "cosine", "total": 40, "per": "epoch"}):
        out = with_epochs(cfg(kept), 200)
        assert out.optimizer.schedule["total"] == kept["total"] and out.train.epochs == 200
    assert with_epochs(cfg(None), 7).optimizer.schedule is None


def test_a_dev_error_at_the_target_stops_the_search(tmp_path):
    """Nothing beats a dev error at the target error (breast_cancer: dev 0 with train
    3.5 % read as high bias sent 95 s into a search that could not win): stop tuning."""
    from netrx.recipe.round import round_step

    ctx, state = _round_context(tmp_path, total=100.0)
    current = {"config": ctx.cfg0.model_dump(mode="json"), "train_error": 0.035,
               "dev_error": 0.0, "seconds": 1.0, "epochs_run": 20, "step": "baseline"}
    outcome = round_step(ctx, "round1", current)
    assert not outcome["accepted"]
    last = state.data["decisions"][-1]
    assert last["rule"] == "dev at the target" and "stop tuning" in last["action"]
    assert not (tmp_path / "tune").exists()
