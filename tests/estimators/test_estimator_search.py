"""The estimators inside Pipeline, cross_val_score, GridSearchCV and RandomizedSearchCV,
the internal ensemble, and every netrx option as a parameter."""

import numpy as np
import pytest
import torch
from scipy.stats import loguniform
from sklearn.base import clone
from sklearn.datasets import load_iris, make_regression
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from netrx import NetClassifier, NetRegressor
from netrx.errors import ConfigError

FAST = {"hidden": (16,), "epochs": 25, "batch_size": 32, "random_state": 0, "device": "cpu"}



@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def test_pipeline_and_cross_val_score(iris):
    X, y = iris
    pipe = Pipeline([("scale", StandardScaler()), ("net", NetClassifier(lr=0.03, **FAST))])
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85

    Xr, yr = make_regression(120, 5, noise=5.0, random_state=0)
    r2 = cross_val_score(Pipeline([("net", NetRegressor(lr=0.03, **FAST))]), Xr, yr, cv=3)
    assert r2.mean() > 0.8


def test_grid_search_prefers_the_learning_rate_that_learns(iris):
    X, y = iris
    pipe = Pipeline([("net", NetClassifier(**FAST))])
    search = GridSearchCV(pipe, {"net__lr": [1e-5, 0.03], "net__members": [1, 2]}, cv=2)
    search.fit(X, y)
    assert search.best_params_["net__lr"] == 0.03  # 1e-5 barely moves in 25 epochs
    assert search.best_score_ > 0.85
    assert search.best_estimator_.predict(X).shape == (150,)


def test_randomized_search_over_optimizer_regularizers_and_schedule(iris):
    X, y = iris
    space = {"lr": loguniform(1e-3, 1e-1), "optimizer": ["adam", "momentum"],
             "l2": [0.0, 0.1], "dropout": [0.0, 0.2], "schedule": [None, "cosine"]}
    search = RandomizedSearchCV(NetClassifier(**FAST), space, n_iter=3, cv=2, random_state=0)
    search.fit(X, y)
    assert len(search.cv_results_["params"]) == 3
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_internal_ensemble_averages_member_probabilities(iris):
    X, y = iris
    net = NetClassifier(members=3, lr=[0.001, 0.01, 0.03], **FAST).fit(X, y)
    assert net.history_.logs[-1].lr.tolist() == pytest.approx([0.001, 0.01, 0.03])
    Xs = torch.as_tensor(net.standardizer_.transform(X), dtype=torch.float32)
    per_member = torch.softmax(net.population_.predict(Xs).double(), -1).cpu().numpy()
    np.testing.assert_allclose(net.predict_proba(X), per_member.mean(0), rtol=1e-6)
    single = clone(net).set_params(ensemble=False).fit(X, y)
    assert single.best_member_ == 2  # the largest rate learns most in 25 epochs
    np.testing.assert_allclose(single.predict_proba(X), per_member[2], rtol=1e-6)
    assert set(net.classes_) == {0, 1, 2} and net.n_features_in_ == 4


def test_every_parameter_reaches_the_config(iris):
    X, y = iris
    net = NetClassifier(hidden=(8, 4), activation="tanh", init="xavier", batch_norm=True,
                        dropout=0.1, optimizer="adamw", lr=0.01,
                        optimizer_options={"b1": 0.8, "weight_decay": 0.01},
                        schedule={"name": "exponential", "gamma": 0.9}, epochs=2,
                        batch_size=16, members=2, l2=0.01, l1=0.001, l1_mode="proximal",
                        max_norm=3.0, dropconnect=0.1, input_dropout=0.05,
                        label_smoothing=0.1, augment="signal", noise=[0.1, 0.2],
                        early_stopping=5, validation_fraction=0.2, reduce_lr_on_plateau=3,
                        random_state=1, device="cpu").fit(X, y)
    c = net.config_
    assert (c.model.hidden, c.model.activation, c.model.init, c.model.batch_norm) == \
        ([8, 4], "tanh", "xavier", True)
    assert (c.optimizer.name, c.optimizer.lr, c.optimizer.b1) == ("adamw", 0.01, 0.8)
    assert c.optimizer.schedule == {"name": "exponential", "gamma": 0.9}
    r = c.regularization
    assert (r.l2, r.l1, r.l1_mode, r.max_norm, r.dropconnect, r.input_dropout,
            r.label_smoothing) == (0.01, 0.001, "proximal", 3.0, 0.1, 0.05, 0.1)
    assert (c.augment.preset, c.augment.noise) == ("signal", [0.1, 0.2])
    assert c.train.early_stopping.patience == 5 and c.train.reduce_lr_on_plateau.patience == 3
    assert (c.members, c.seed, c.train.epochs, c.train.batch_size) == (2, 1, 2, 16)
    assert net.history_.logs[-1].dev_error is not None  # early stopping watches a dev split


def test_regularization_acts(iris):
    X, y = iris
    plain = NetClassifier(lr=0.03, **FAST).fit(X, y)
    decayed = NetClassifier(lr=0.03, l2=50.0, **FAST).fit(X, y)

    def weight_norm(net):
        pop = net.population_
        return float(pop.flat[:, pop.weight_mask()[0].bool()].norm())

    assert weight_norm(decayed) < 0.5 * weight_norm(plain)


def test_parameters_are_validated_in_fit_not_init(iris):
    X, y = iris
    net = NetClassifier(optimizer="adma", epochs=1)  # stored untouched
    assert net.get_params()["optimizer"] == "adma"
    with pytest.raises(ConfigError, match="did you mean 'adam'"):
        net.fit(X, y)
    with pytest.raises(ConfigError, match="label smoothing needs the cross_entropy loss"):
        NetRegressor(label_smoothing=0.1, epochs=1).fit(X, y.astype(float))
    with pytest.raises(ValueError, match="one class"):
        NetClassifier(epochs=1).fit(X[:10], y[:10])
