"""A training step makes no host read and uploads no Python scalar: on a GPU each would be
a stream synchronisation. On the CPU the step is run with those calls trapped."""

import numpy as np
import pytest
import torch

import netrx
from netrx.config import parse_config
from netrx.data.augment import ImageAugment, SignalAugment
from netrx.experiment.assemble import assemble
from netrx.experiment.prepared import Prepared
from netrx.nn import cnn2d, mlp
from netrx.optim import build_optimizer
from netrx.optim.schedules import build_schedule
from netrx.regularize.constraints import MaxNorm
from netrx.train import Callback
from netrx.train.host_sync import check_step


def _fit(model, X, y, **kwargs):
    extra = kwargs.pop("callbacks", [])
    found = check_step(lambda check: netrx.fit(
        model, (X, y), members=3, batch_size=len(y) // 4, epochs=1, progress=False,
        callbacks=[*extra, check], **kwargs))
    assert found is None, found


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                       "adam", "adamw"])
def test_an_optimizer_step_makes_no_host_sync(optimizer):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 10)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    lr = build_schedule({"name": "cosine", "total": 100}, lr=torch.tensor([1e-3, 2e-3, 3e-3]))
    opt = build_optimizer(optimizer, lr=lr)
    _fit(mlp(10, [16], 2, dropout=0.2), X, y, optimizer=opt,
         callbacks=[MaxNorm(2.0)],
         augment=SignalAugment(shift=2, scale=0.1, noise=0.05, stretch=0.05))


def test_image_augmentation_makes_no_host_sync():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    _fit(cnn2d((1, 8, 8), 3), X, y,
         augment=ImageAugment(flip=True, crop_padding=1, rotate=10.0, scale=0.1,
                              brightness=0.1, contrast=0.1, noise=0.05))


def test_the_assembled_pieces_of_a_config_make_no_host_sync():
    """Schedules, penalties and the proximal L1 step as a config builds them."""
    cfg = parse_config({"members": 3, "data": {"dataset": "iris"},
                        "optimizer": {"name": "adam", "lr": [1e-3, 2e-3, 3e-3],
                                      "schedule": {"name": "cosine", "total": 50}},
                        "regularization": {"l2": 0.01, "l1": 0.01, "l1_mode": "proximal",
                                           "max_norm": 3.0},
                        "train": {"batch_size": 16}})
    from netrx.experiment import prepare

    prepared: Prepared = prepare(cfg)
    pieces = assemble(cfg, prepared)
    s = prepared.splits
    found = check_step(lambda check: netrx.fit(
        pieces.population, s.train, None, epochs=1, batch_size=16, progress=False,
        callbacks=[*pieces.constraints, check], **pieces.fit_kwargs()))
    assert found is None, found


def test_the_check_finds_a_host_read():
    class Reads(Callback):  # what a careless callback does every step
        def on_step_end(self, state):
            float(state.population.flat[0, 0])

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 10)).astype(np.float32)
    found = check_step(lambda check: netrx.fit(
        mlp(10, [8], 2), (X, (X[:, 0] > 0).astype(np.int64)), batch_size=16, epochs=1,
        progress=False, callbacks=[check, Reads()]))
    assert found is not None and "Tensor.__float__" in found
