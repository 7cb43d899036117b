"""The search-space DSL: the notes' scales, the Optuna mapping, and validation errors."""

import math

import numpy as np
import optuna
import pytest
from scipy import stats

from netrx.errors import ConfigError
from netrx.tune.distributions import parse_assignment, parse_distribution
from netrx.tune.settings import load_tune_config, parse_budget
from netrx.tune.space import Space

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _draw_with_optuna(space: Space, n: int, seed: int = 0) -> list[dict]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(space.suggest(trial, {}))
        study.tell(trial, 0.0)
    return out


def test_log_uniform_spends_equal_mass_per_decade():
    """α = 10^r with r uniform: each of the 4 decades of [1e-4, 1] gets a quarter of the
    draws (a uniform draw on [1e-4, 1] would put 90% in [0.1, 1])."""
    d = parse_distribution("log_uniform(1e-4, 1)")
    for values in (d.sample(np.random.default_rng(0), 4000),
                   [v["lr"] for v in _draw_with_optuna(Space.from_mapping({"lr": str(d)}),
                                                       2000)]):
        values = np.asarray(values)
        assert values.min() >= 1e-4 and values.max() <= 1
        counts = np.histogram(np.log10(values), bins=[-4, -3, -2, -1, 0])[0]
        assert stats.chisquare(counts).pvalue > 1e-3, counts
        assert np.mean(values < 0.1) > 0.7  # on a linear scale only 10% would be below 0.1
        assert stats.kstest((np.log10(values) + 4) / 4, "uniform").pvalue > 1e-3


def test_one_minus_log_samples_r_uniformly():
    """β = 1 − 10^r, r ~ U[log10(1 − hi), log10(1 − lo)]: from 0.9 to 0.999 half the
    draws fall in [0.9, 0.99] and half in [0.99, 0.999]."""
    d = parse_distribution("one_minus_log(0.9, 0.999)")
    od = d.to_optuna()
    assert (od.low, od.high) == pytest.approx((-3.0, -1.0)) and not od.log  # r, uniform
    space = Space.from_mapping({"optimizer.b2": str(d)})
    assert space.params["optimizer.b2"].name == "log10(1-optimizer.b2)"
    for betas in (d.sample(np.random.default_rng(1), 4000),
                  [v["optimizer.b2"] for v in _draw_with_optuna(space, 2000, seed=1)]):
        betas = np.asarray(betas)
        assert betas.min() >= 0.9 and betas.max() <= 0.999
        r = np.log10(1 - betas)
        assert stats.kstest((r + 3) / 2, "uniform").pvalue > 1e-3
        assert abs(np.mean(betas < 0.99) - 0.5) < 0.05


def test_encode_decode_round_trip_and_optuna_distributions():
    d = parse_distribution("one_minus_log(0.9, 0.9999)")
    for beta in (0.9, 0.95, 0.999, 0.9999):
        assert d.decode(d.encode(beta)) == pytest.approx(beta, abs=1e-12)
    c = parse_distribution("choice([64, 64], [128, 128], 'x', 3)")
    assert c.to_optuna().choices == ("[64, 64]", "[128, 128]", "x", 3)
    assert c.decode("[128, 128]") == [128, 128]
    i = parse_distribution("int(8, 512, log)")
    assert i.log and i.to_optuna().log and i.scale == "log"
    assert parse_distribution("log_uniform(1e-4, 1e-1)").to_optuna().log
    assert parse_distribution("choice(adam, sgd)").args == ("adam", "sgd")  # bare words


def test_int_log_covers_every_value():
    d = parse_distribution("int(1, 8, log)")
    values = d.sample(np.random.default_rng(0), 5000)
    assert set(values) == set(range(1, 9))
    assert np.mean(np.asarray(values) <= 2) > 0.3  # log scale: small values are frequent


def test_grid_points_are_spaced_on_the_scale():
    assert parse_distribution("log_uniform(1e-4, 1e-2)").grid(3) == pytest.approx(
        [1e-4, 1e-3, 1e-2])
    assert parse_distribution("one_minus_log(0.9, 0.999)").grid(3) == pytest.approx(
        [0.9, 0.99, 0.999])
    assert parse_distribution("choice(1, 2)").grid(5) == [1, 2]


@pytest.mark.parametrize("text, message", [
    ("log_uniform(1e-1, 1e-4)", "must be below"),
    ("uniform(3, 3)", "must be below"),
    ("log_uniform(0, 1)", "log scale needs lo > 0"),
    ("log_uniform(-1, 1)", "log scale needs lo > 0"),
    ("one_minus_log(0.9, 1.0)", "0 ≤ lo < hi < 1"),
    ("int(0, 10, log)", "needs lo ≥ 1"),
    ("int(1.5, 3)", "integer bounds"),
    ("choice()", "at least one option"),
    ("choice(1, 1)", "twice"),
    ("logg_uniform(1, 2)", "did you mean 'log_uniform'"),
    ("uniform(1)", "two numbers"),
    ("log_uniform(1e-4, 1e-1", "cannot read"),
])
def test_distribution_errors(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_distribution(text)


def test_vary_assignment_still_parses():
    key, d = parse_assignment("lr=log_uniform(1e-4, 1e-1)")
    assert key == "lr" and d.kind == "log_uniform"
    with pytest.raises(ConfigError, match="KEY=DISTRIBUTION"):
        parse_assignment("lr")


def _config(space, **search):
    return {"data": {"dataset": "iris"}, "model": {"hidden": [8]}, "train": {"epochs": 3},
            "search": {"space": space, **search}}


@pytest.mark.parametrize("space, message", [
    ({"optimizr.lr": "log_uniform(1e-4, 1)"}, "unknown config key 'optimizr.lr'.*did you mean"),
    ({"model.hiden": "choice([8])"}, "did you mean 'hidden'"),
    ({"optimizer.lrr": "log_uniform(1e-4, 1)"}, "no hyperparameter 'lrr'.*did you mean 'lr'"),
    ({"model.dropout": "uniform(0, 1.5)"}, "model.dropout = 1.5 makes an invalid run config"),
    ({"optimizer.lr": "log_uniform(0, 1)"}, "search.space.optimizer.lr: .*lo > 0"),
    ({"optimizer.name": "choice(adam, momentum)", "optimizer.b2": "one_minus_log(0.9, 0.99)"},
     "momentum has no hyperparameter 'b2'.*conditional"),
    ({"optimizer.name": "choice(adam, momentum)",
      "optimizer.b2": {"distribution": "one_minus_log(0.9, 0.99)",
                       "when": {"optimizer.name": "adamm"}}}, "is never 'adamm'"),
    ({"optimizer.b2": {"distribution": "one_minus_log(0.9, 0.99)",
                       "when": {"optimizer.name": "sgd"}}}, "never holds"),
    ({"optimizer.b2": {"distrib": "one_minus_log(0.9, 0.99)"}}, "unknown entry 'distrib'"),
    ({"a.b": {"distribution": "uniform(0, 1)", "when": {"c.d": 1}},
      "c.d": {"distribution": "uniform(0, 1)", "when": {"a.b": 1}}}, "cycle"),
    ({}, "empty"),
])
def test_space_validation_errors(space, message):
    with pytest.raises(ConfigError, match=message):
        load_tune_config(_config(space))


@pytest.mark.parametrize("search, message", [
    ({"strategy": "tpx"}, "unknown strategy 'tpx'.*did you mean 'tpe'"),
    ({"pruner": "ashaa"}, "did you mean 'asha'"),
    ({"trails": 5}, "unknown key search.trails.*did you mean 'trials'"),
    ({"budget": "5 fortnights"}, "duration such as"),
    ({"trials": 0}, "search.trials"),
    ({"heartbeat": 10, "grace": 5}, "must exceed search.heartbeat"),
    ({"min_epochs": 9}, "exceeds max_epochs"),
])
def test_search_section_errors(search, message):
    with pytest.raises(ConfigError, match=message):
        load_tune_config(_config({"optimizer.lr": "log_uniform(1e-4, 1)"}, **search))


def test_tune_config_errors():
    with pytest.raises(ConfigError, match="no `search` section"):
        load_tune_config({"data": {"dataset": "iris"}})
    with pytest.raises(ConfigError, match="early_stopping is not used"):
        load_tune_config({**_config({"optimizer.lr": "log_uniform(1e-4, 1)"}),
                          "train": {"early_stopping": {"patience": 3}}})
    with pytest.raises(ConfigError, match="lists one value per member"):
        load_tune_config({**_config({"model.dropout": "uniform(0, 0.5)"}),
                          "members": 2, "optimizer": {"lr": [0.1, 0.2]}})


def test_conditional_keys_are_drawn_only_when_their_condition_holds():
    space = Space.from_mapping({
        "optimizer.b2": {"distribution": "one_minus_log(0.9, 0.9999)",
                         "when": {"optimizer.name": "adam"}},
        "optimizer.name": "choice(adam, momentum)",
        "optimizer.beta": {"distribution": "uniform(0.5, 0.99)",
                           "when": {"optimizer.name": ["momentum"]}}})
    assert list(space.params)[0] == "optimizer.name"  # conditions come first
    draws = _draw_with_optuna(space, 60)
    assert {d["optimizer.name"] for d in draws} == {"adam", "momentum"}
    for d in draws:
        assert ("optimizer.b2" in d) == (d["optimizer.name"] == "adam")
        assert ("optimizer.beta" in d) == (d["optimizer.name"] == "momentum")
    assert Space.from_mapping(space.to_mapping()).to_mapping() == space.to_mapping()


def test_budget_durations():
    assert parse_budget("5m") == 300
    assert parse_budget("1h30m") == 5400
    assert parse_budget(90) == 90
    assert parse_budget("45s") == 45
    assert parse_budget(None) is None
    with pytest.raises(ConfigError):
        parse_budget("-3")
    assert math.isclose(parse_budget("0.5m"), 30)


def test_the_example_tune_config_is_valid():
    from pathlib import Path

    cfg = load_tune_config(Path(__file__).parents[2] / "examples" / "mnist1d_tune.yaml")
    assert cfg.space.params["optimizer.b1"].dist.scale == "one_minus_log"
    assert cfg.search.strategy == "random" and cfg.max_epochs == 27
