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

TRAPPED = ["item", "tolist", "numpy", "__float__", "__int__", "__bool__", "cpu"]


class Trap(Callback):
    """Traps host reads and scalar uploads during the second step (the first builds what
    a step reuses)."""

    def __init__(self, monkeypatch):
        self.mp, self.steps, self.active = monkeypatch, 0, False

    def _arm(self):
        def fail(name):
            def trapped(*args, **kwargs):
                raise AssertionError(f"host sync in a training step: Tensor.{name}")
            return trapped

        for name in TRAPPED:
            self.mp.setattr(torch.Tensor, name, fail(name))
        real_tensor, real_as_tensor = torch.tensor, torch.as_tensor

        def no_upload(real, what):
            def guarded(data, *args, **kwargs):
                if not isinstance(data, torch.Tensor):
                    raise AssertionError(f"{what}() of a Python value in a training step")
                return real(data, *args, **kwargs)
            return guarded

        self.mp.setattr(torch, "tensor", no_upload(real_tensor, "torch.tensor"))
        self.mp.setattr(torch, "as_tensor", no_upload(real_as_tensor, "torch.as_tensor"))
        self.active = True

    def on_step_end(self, state):
        self.steps += 1
        if self.active:
            self.mp.undo()
            self.active = False
            state.stop = state.stop_now = True  # the rest of the epoch is not needed
        elif self.steps == 1:
            self._arm()


def _fit(monkeypatch, model, X, y, **kwargs):
    trap = Trap(monkeypatch)
    netrx.fit(model, (X, y), members=3, batch_size=len(y) // 4, epochs=1, progress=False,
              callbacks=[*kwargs.pop("callbacks", []), trap], **kwargs)
    assert trap.steps == 2


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                       "adam", "adamw"])
def test_an_optimizer_step_makes_no_host_sync(monkeypatch, optimizer):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 10)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    lr = build_schedule({"name": "cosine", "total": 100}, lr=torch.tensor([1e-3, 2e-3, 3e-3]))
    opt = build_optimizer(optimizer, lr=lr)
    _fit(monkeypatch, mlp(10, [16], 2, dropout=0.2), X, y, optimizer=opt,
         callbacks=[MaxNorm(2.0)],
         augment=SignalAugment(shift=2, scale=0.1, noise=0.05, stretch=0.05))


def test_image_augmentation_makes_no_host_sync(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    _fit(monkeypatch, cnn2d((1, 8, 8), 3), X, y,
         augment=ImageAugment(flip=True, crop_padding=1, rotate=10.0, scale=0.1,
                              brightness=0.1, contrast=0.1, noise=0.05))


def test_the_assembled_pieces_of_a_config_make_no_host_sync(monkeypatch):
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
    trap = Trap(monkeypatch)
    netrx.fit(pieces.population, s.train, None, epochs=1, batch_size=16, progress=False,
              callbacks=[*pieces.constraints, trap], **pieces.fit_kwargs())
    assert trap.steps == 2
