"""ReduceLROnPlateau: per member, through the lr factor of scale_by_lr, logged in history."""

import numpy as np
import pytest
import torch

import netrx
from netrx.errors import ConfigError
from netrx.nn import mlp
from netrx.optim import adam, lbfgs, schedules, sgd
from netrx.optim.transforms import find_lr_state
from netrx.train.callbacks import EpochLog, FitState
from netrx.train.plateau import ReduceLROnPlateau


class _Pop:
    members = 2


def _state(opt):
    return FitState(_Pop(), opt, opt.init({"w": torch.zeros(2, 3)}), epochs=10)


def _log(epoch, dev_loss):
    dev_loss = np.asarray(dev_loss, dtype=float)
    return EpochLog(epoch, dev_loss, dev_loss, dev_loss, dev_loss, None, ["training"] * 2)


def test_reduces_each_member_after_its_own_plateau():
    state = _state(sgd(torch.tensor([0.1, 0.2])))
    cb = ReduceLROnPlateau(factor=0.5, patience=1, monitor="dev_loss")
    cb.on_fit_start(state)
    lr_state = find_lr_state(state.opt_state)
    # member 0 improves every epoch; member 1 stalls from epoch 2 on
    for epoch, values in enumerate([[1.0, 1.0], [0.9, 1.0], [0.8, 1.0], [0.7, 1.0],
                                    [0.6, 1.0]], 1):
        cb.on_epoch_end(state, _log(epoch, values))
        if epoch == 2:
            torch.testing.assert_close(lr_state.scale, torch.tensor([1.0, 1.0]))
    # epochs 2, 3 without improvement → reduced after epoch 3; epochs 4, 5 → again after 5
    torch.testing.assert_close(lr_state.scale, torch.tensor([1.0, 0.25]))
    assert cb.reductions.tolist() == [0, 2]


def test_min_lr_is_a_floor():
    state = _state(sgd(0.1))
    cb = ReduceLROnPlateau(factor=0.1, patience=0, min_lr=0.02)
    cb.on_fit_start(state)
    for epoch in range(1, 6):
        cb.on_epoch_end(state, _log(epoch, [1.0, 1.0]))
    lr_state = find_lr_state(state.opt_state)
    torch.testing.assert_close(lr_state.scale * 0.1, torch.tensor([0.02, 0.02]))


def test_state_dict_round_trip():
    state = _state(sgd(0.1))
    cb = ReduceLROnPlateau(patience=3)
    cb.on_fit_start(state)
    cb.on_epoch_end(state, _log(1, [1.0, 2.0]))
    cb.on_epoch_end(state, _log(2, [1.0, 2.0]))
    again = ReduceLROnPlateau(patience=3)
    again.load_state_dict(cb.state_dict())
    assert again.wait.tolist() == cb.wait.tolist() and again.best.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("kwargs, match", [
    ({"factor": 1.0}, "factor=1.0"), ({"patience": -1}, "patience=-1"),
    ({"min_lr": -1.0}, "min_lr=-1.0"), ({"monitor": "dev_acc"}, "cannot monitor"),
])
def test_bad_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ReduceLROnPlateau(**kwargs)


def test_needs_an_lr_transform():
    state = FitState(_Pop(), lbfgs(), (), epochs=1)
    with pytest.raises(ConfigError, match="scale_by_lr"):
        ReduceLROnPlateau().on_fit_start(state)


def test_in_fit_the_history_logs_the_reduced_rate_of_each_member():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    # member 1 is frozen by a negligible rate: its train loss stops improving at once
    opt = adam(torch.tensor([1e-2, 1e-9]))
    cb = ReduceLROnPlateau(factor=0.5, patience=1, monitor="train_loss", min_delta=1e-6)

    def lr(state):
        from netrx.optim import current_lr
        return current_lr(state.opt_state)

    h = netrx.fit(mlp(6, [8], 2), (X, y), optimizer=opt, epochs=6, members=2, callbacks=[cb],
                  progress=False, lr=lr)
    logged = np.array([log.lr for log in h.logs])
    # each epoch logs the rate it used; a reduction shows from the next epoch on
    for e in range(1, 6):
        expected = logged[e - 1] * np.where(_reduced_after(h.metric("train_loss"), e), 0.5, 1)
        np.testing.assert_allclose(logged[e], expected, rtol=1e-6)
    # member 1: no improvement in epochs 2-3 and 4-5 → reduced twice
    assert logged[-1, 1] == pytest.approx(1e-9 * 0.25, rel=1e-5)
    np.testing.assert_allclose(logged[:, 0], 1e-2 * 0.5 ** cb_reductions(logged[:, 0]))


def cb_reductions(column):
    return np.round(np.log(column / column[0]) / np.log(0.5))


def _reduced_after(metric, epoch, patience=1, min_delta=1e-6):
    """Members reduced at the end of ``epoch``: the rule replayed from the history."""
    reduced = np.zeros(metric.shape[1], dtype=bool)
    for k in range(metric.shape[1]):
        best, wait = np.inf, 0
        for e in range(epoch):
            if metric[e, k] < best - min_delta:
                best, wait = metric[e, k], 0
            else:
                wait += 1
            if wait > patience:
                reduced[k] = e == epoch - 1
                wait = 0
    return reduced


def test_schedule_and_plateau_compose():
    sched = schedules.exponential(0.1, 0.5, per="step")
    state = _state(sgd(sched))
    lr_state = find_lr_state(state.opt_state)
    lr_state.scale.mul_(torch.tensor([1.0, 0.1]))
    from netrx.optim import current_lr

    lr_state.count.fill_(3)
    torch.testing.assert_close(current_lr(state.opt_state),
                               torch.tensor([0.1 * 0.5 ** 3, 0.01 * 0.5 ** 3]))
