"""The bias / variance verdict on the course's numbers, and the basic recipe's changes."""

import numpy as np
import pytest

from netrx.config import parse_config
from netrx.diagnose import Change, bias_remedies, bias_variance, prescribe, variance_remedies
from netrx.diagnose.prescriptions import input_kind
from netrx.errors import ConfigError


@pytest.mark.parametrize("train, dev, verdict", [
    (0.01, 0.11, "high variance"),
    (0.15, 0.16, "high bias"),
    (0.15, 0.30, "high bias and high variance"),
    (0.005, 0.01, "good"),
])
def test_the_notes_table_with_target_zero(train, dev, verdict):
    d = bias_variance(train, dev)
    assert d.verdict == verdict
    assert d.avoidable_bias == pytest.approx(train)
    assert d.variance == pytest.approx(dev - train)


def test_target_error_shifts_the_verdict():
    # a hard task (Bayes error ≈ 15 %): 15 % / 16 % is as good as it gets
    assert bias_variance(0.15, 0.16, target_error=0.15).verdict == "good"
    hard = bias_variance(0.15, 0.30, target_error=0.14)
    assert hard.verdict == "high variance" and hard.avoidable_bias == pytest.approx(0.01)
    # and a low target turns a small-looking train error into avoidable bias
    assert bias_variance(0.03, 0.035, target_error=0.0).verdict == "high bias"
    assert bias_variance(0.03, 0.035, target_error=0.02).verdict == "good"


def test_thresholds_are_configurable_and_strict():
    assert bias_variance(0.02, 0.04).verdict == "good"  # exactly at the thresholds
    assert bias_variance(0.02, 0.04, bias_threshold=0.01).verdict == "high bias"
    assert bias_variance(0.01, 0.06, variance_threshold=0.1).verdict == "good"


def test_sampling_noise_raises_the_limits_when_set_sizes_are_given():
    # 68 % error on 800 dev examples: standard error 1.65 points, so a 2.6-point gap is noise
    d = bias_variance(0.6575, 0.6837, n_train=3200, n_dev=800)
    se = np.sqrt(0.6575 * 0.3425 / 3200 + 0.6837 * 0.3163 / 800)
    assert d.variance_noise == pytest.approx(2 * se)
    assert d.variance_limit == pytest.approx(2 * se) and d.verdict == "high bias"
    assert bias_variance(0.6575, 0.6837).verdict == "high bias and high variance"
    # with large sets the plain threshold rules
    big = bias_variance(0.01, 0.04, n_train=10**6, n_dev=10**6)
    assert big.variance_limit == 0.02 and big.verdict == "high variance"
    with pytest.raises(ConfigError, match="n_dev"):
        bias_variance(0.1, 0.2, n_dev=0)


def test_focus_is_the_larger_problem():
    assert bias_variance(0.10, 0.30).focus == "variance"
    assert bias_variance(0.30, 0.35).focus == "bias"
    assert bias_variance(0.005, 0.01).focus is None
    assert "larger problem is variance" in bias_variance(0.10, 0.30).explain()


def test_dev_test_mismatch():
    d = bias_variance(0.01, 0.02, 0.08)
    assert d.mismatch == pytest.approx(0.06) and d.dev_test_mismatch
    assert "different distributions" in d.explain()
    assert not bias_variance(0.01, 0.02, 0.025).dev_test_mismatch
    assert bias_variance(0.01, 0.02).mismatch is None


def test_bad_errors_raise():
    with pytest.raises(ConfigError, match="train_error"):
        bias_variance(-0.1, 0.2)
    with pytest.raises(ConfigError, match="dev_error"):
        bias_variance(0.1, float("nan"))
    with pytest.raises(ConfigError, match="bias_threshold"):
        bias_variance(0.1, 0.2, bias_threshold=-1)


def _cfg(**sections):
    base = {"data": {"dataset": "mnist1d"}, "model": {"hidden": [32, 32]},
            "optimizer": {"name": "sgd", "lr": 0.1}, "train": {"epochs": 20}}
    base.update(sections)
    return parse_config(base)


def test_bias_recipe_changes_are_concrete_and_valid():
    cfg = _cfg()
    remedies = {p.remedy: p for p in bias_remedies(cfg, (40,), None)}
    wide = remedies["bigger network: wider"].apply(cfg)
    assert wide.model.hidden == [64, 64]
    assert remedies["bigger network: deeper"].apply(cfg).model.hidden == [32, 32, 32]
    assert remedies["train longer"].apply(cfg).train.epochs == 40
    better = remedies["better optimizer"]
    new = better.apply(cfg)
    assert new.optimizer.name == "adam" and new.optimizer.lr == 1e-3
    assert better.search == {"optimizer.lr": "log_uniform(1e-4, 1e-1)"}
    assert remedies["different architecture"].apply(cfg).model.family == "cnn1d"
    assert cfg.model.hidden == [32, 32]  # the original is untouched


def test_high_bias_with_regularization_searches_below_it():
    """The notes: λ too large takes the network from overfitting to underfitting."""
    from netrx.tune.distributions import parse_distribution

    reg = _cfg(regularization={"l2": 0.3}, model={"hidden": [8], "dropout": 0.25})
    less = {p.remedy: p for p in bias_remedies(reg, (40,), None)}["less regularization"]
    new = less.apply(reg)
    assert new.regularization.l2 == pytest.approx(0.1) and new.model.dropout == 0.15
    l2 = parse_distribution(less.search["regularization.l2"])
    assert l2.kind == "log_uniform" and l2.args == pytest.approx((0.01, 0.3))
    rate = parse_distribution(less.search["model.dropout"])
    assert rate.kind == "uniform" and rate.args == pytest.approx((0.0, 0.25))
    only_l2 = {p.remedy: p for p in bias_remedies(_cfg(regularization={"l2": 1.0}))}
    assert set(only_l2["less regularization"].search) == {"regularization.l2"}
    assert "less regularization" not in {p.remedy for p in bias_remedies(_cfg())}


def test_switching_optimizer_drops_hyperparameters_the_new_one_does_not_take():
    cfg = _cfg(optimizer={"name": "sgd", "lr": 0.1, "not_an_adam_key": 0.9})
    new = Change("optimizer.name", "adam").apply(cfg)
    assert new.optimizer.name == "adam" and "not_an_adam_key" not in new.optimizer.model_dump()


def test_variance_recipe_changes_are_valid():
    cfg = _cfg(optimizer={"name": "adam"})
    remedies = {p.remedy: p for p in variance_remedies(cfg, (40,), None)}
    assert remedies["more data"].apply(cfg).augment.preset == "auto"
    l2 = remedies["regularization: L2"]
    assert l2.apply(cfg).regularization.l2 == 1.0 and "regularization.l2" in l2.search
    assert remedies["regularization: dropout"].apply(cfg).model.dropout == 0.2
    es = remedies["regularization: early stopping"].apply(cfg)
    assert es.train.early_stopping.patience == 10
    assert remedies["different architecture"].apply(cfg).model.family == "cnn1d"
    # already regularised: stronger L2, more dropout, no second early stopping
    reg = _cfg(regularization={"l2": 2.0}, model={"hidden": [8], "dropout": 0.3},
               train={"early_stopping": {"patience": 5}})
    again = {p.remedy: p for p in variance_remedies(reg, (40,), None)}
    assert again["regularization: L2"].apply(reg).regularization.l2 == 6.0
    assert again["regularization: dropout"].apply(reg).model.dropout == 0.4
    assert "regularization: early stopping" not in again


def test_tables_get_no_convolution_and_no_augmentation():
    cfg = _cfg(data={"dataset": "wine"})
    columns = ("alcohol", "malic_acid")
    assert input_kind((13,), columns) == "table"
    assert input_kind((40,), None) == "signal" and input_kind((1, 8, 8), None) == "image"
    remedies = variance_remedies(cfg, (13,), columns) + bias_remedies(cfg, (13,), columns)
    paths = {c.path for p in remedies for c in p.changes}
    assert "model.family" not in paths and "augment.preset" not in paths
    wide = {p.remedy: p for p in bias_remedies(_cfg(model={"family": "cnn2d"}), (1, 8, 8))}
    assert wide["bigger network: wider"].apply(_cfg(model={"family": "cnn2d"})) \
        .model.channels == 64  # cnn2d's default 32 filters, doubled


def test_prescribe_follows_the_verdict_bias_first():
    cfg = _cfg()
    assert prescribe(bias_variance(0.005, 0.01), cfg) == []
    only_var = prescribe(bias_variance(0.01, 0.11), cfg)
    assert {p.problem for p in only_var} == {"variance"}
    both = prescribe(bias_variance(0.15, 0.30), cfg)
    problems = [p.problem for p in both]
    assert problems == sorted(problems)  # every bias remedy before any variance remedy
    assert "bias" in problems and "variance" in problems
    for p in both:  # every change yields a valid config
        p.apply(cfg)


def test_invalid_change_is_a_config_error():
    with pytest.raises(ConfigError):
        Change("model.hiden", [10]).apply(_cfg())
    with pytest.raises(ConfigError):
        Change("model.dropout", 1.5).apply(_cfg())
