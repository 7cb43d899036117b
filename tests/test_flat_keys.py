"""One parameter list: `netrx train`'s options, the estimators' parameters and `--vary`'s
keys are the flat names of netrx.config.FLAT_KEYS, and each reaches its config key."""

import inspect

import pytest

from netrx import NetClassifier, NetRegressor
from netrx.cli.app import train
from netrx.config import FLAT_KEYS, MEMBER_KEYS, get_path, parse_config

#: parameters that say how to fit or what to print, not one config key each
ESTIMATOR_ONLY = {"optimizer_options", "schedule", "early_stopping", "reduce_lr_on_plateau",
                  "ensemble", "validation_fraction", "random_state", "verbose"}
CLI_ONLY = {"config", "schedule", "schedule_param", "reduce_lr_on_plateau", "vary",
            "early_stopping", "resume", "force", "quiet", "json_out"}


@pytest.mark.parametrize("estimator", [NetClassifier, NetRegressor])
def test_every_estimator_parameter_is_a_flat_key(estimator):
    params = set(estimator().get_params())
    assert params - ESTIMATOR_ONLY <= set(FLAT_KEYS), params - ESTIMATOR_ONLY - set(FLAT_KEYS)


def test_every_train_option_is_a_flat_key():
    options = set(inspect.signature(train).parameters)
    assert options - CLI_ONLY <= set(FLAT_KEYS), options - CLI_ONLY - set(FLAT_KEYS)


def test_member_keys_take_one_value_per_member():
    assert set(MEMBER_KEYS) <= set(FLAT_KEYS)
    values = {"lr": [1e-3, 2e-3], "dropout": [0.1, 0.2], "l2": [0.0, 1e-3],
              "noise": [0.0, 0.1], "label_smoothing": [0.0, 0.1]}
    data: dict = {"members": 2}
    for short, v in values.items():
        section, _, key = MEMBER_KEYS[short].partition(".")
        data.setdefault(section, {})[key] = v
    cfg = parse_config(data)
    for short, v in values.items():
        assert get_path(cfg, MEMBER_KEYS[short]) == v


def test_estimator_parameters_reach_their_config_keys():
    est = NetClassifier(hidden=7, activation="tanh", dropout=[0.1, 0.2], members=2, l2=0.01,
                        augment="signal", noise=0.05, epochs=3, batch_size=16, device="cpu")
    cfg = est._config(seed=5)
    assert cfg.model.hidden == [7] and cfg.model.activation == "tanh"
    assert cfg.model.dropout == [0.1, 0.2] and cfg.regularization.l2 == 0.01
    assert cfg.augment.preset == "signal" and cfg.augment.noise == 0.05
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.seed, cfg.members) == (3, 16, 5, 2)
