"""Early stopping per member: a stopped member freezes (weights and batch-norm statistics)
while the others go on; restore_best gives every member its best epoch's state."""

import numpy as np
import pytest
import torch

import netrx
from netrx.nn import mlp
from netrx.optim import sgd
from netrx.optim.weight_decay import decoupled_weight_decay
from netrx.population.population import Population
from netrx.regularize.constraints import MaxNorm
from netrx.train import Callback, EarlyStopping


def _data(n=160, d=8, c=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = X[:, :c].argmax(1).astype(np.int64)
    return X, y


class Snapshots(Callback):
    def __init__(self):
        self.states, self.status = [], []

    def on_epoch_end(self, state, log):
        self.states.append({k: v.clone() for k, v in state.population.stacked_state().items()})
        self.status.append(list(log.status))


def _fit(restore_best, callbacks=()):
    X, y = _data()
    # member 1 barely learns (stops first), member 2 is noisy; all with batch norm
    model = mlp(8, [16], 3, batch_norm=True)
    pop = Population(model, 3, device="cpu")
    opt = decoupled_weight_decay(sgd(torch.tensor([0.2, 1e-7, 2.0])), 0.01,
                                 torch.tensor([0.2, 1e-7, 2.0]), {"flat": pop.weight_mask()})
    es = EarlyStopping(patience=1, monitor="dev_loss", min_delta=1e-3, restore_best=restore_best)
    snaps = Snapshots()
    h = netrx.fit(pop, (X[:120], y[:120]), (X[120:], y[120:]), optimizer=opt, epochs=12,
                  batch_size=20, callbacks=[es, *callbacks, snaps], progress=False)
    return h, snaps


def test_a_stopped_member_stays_frozen_while_the_others_change():
    h, snaps = _fit(restore_best=False, callbacks=[MaxNorm(0.8)])
    status = np.array(snaps.status)
    assert status[-1, 1] == "stopped"
    first = int(np.argmax(status[:, 1] == "stopped"))
    assert first < len(status) - 2
    for later in snaps.states[first + 1:]:
        for name, v in later.items():  # weights and batch-norm running statistics
            torch.testing.assert_close(v[1], snaps.states[first][name][1], rtol=0, atol=0)
    training = [k for k in range(3) if status[first + 1, k] == "training"]
    assert training
    k = training[0]
    assert not torch.equal(snaps.states[first + 1]["1.weight"][k],
                           snaps.states[first]["1.weight"][k])


def test_restore_best_gives_each_member_its_best_epoch():
    h, snaps = _fit(restore_best=True)
    dev = h.metric("dev_loss")
    pop = h.population
    final = pop.stacked_state()
    best = [int(np.argmin(dev[:, k])) for k in range(3)]
    assert len(set(best)) > 1  # members have different best epochs
    for k in range(3):
        for name, v in final.items():
            torch.testing.assert_close(v[k], snaps.states[best[k]][name][k], rtol=0, atol=0)
    # the restored members reproduce their best dev loss
    X, y = _data()
    loss, _ = netrx.train.evaluate(pop, torch.as_tensor(X[120:]), torch.as_tensor(y[120:]),
                                   h.objective)
    np.testing.assert_allclose(loss.numpy(), [dev[best[k], k] for k in range(3)], rtol=1e-5)


def test_patience_counts_epochs_without_improvement():
    es = EarlyStopping(patience=2, monitor="dev_error", min_delta=0.05)
    pop = Population(mlp(2, [2], 2), 1, device="cpu")
    state = netrx.train.FitState(pop, sgd(0.1), None, 10)
    es.on_fit_start(state)
    for epoch, err in enumerate([0.5, 0.47, 0.40, 0.38, 0.36, 0.36], 1):
        log = netrx.train.EpochLog(epoch, np.zeros(1), np.zeros(1), np.zeros(1),
                                   np.array([err]), None, ["training"])
        es.on_epoch_end(state, log)
        if epoch < 5:
            assert not bool(pop.stopped[0]), epoch
        if epoch == 5:
            assert bool(pop.stopped[0]) and log.status == ["stopped"]
    # 0.47 is within min_delta of 0.5, 0.40 improves; 0.38 and 0.36 are within min_delta
    # of 0.40: after `patience` = 2 epochs without improvement the member stops (as Keras)
    assert es.best_epoch.tolist() == [3]
    with pytest.raises(netrx.ConfigError):
        EarlyStopping(patience=-1)


def test_a_stopped_member_logs_no_train_loss_and_is_never_the_best_by_it():
    """A member frozen for a whole epoch has no train loss that epoch (NaN), not 0: it
    must not look like the best member nor pull a log-scale curve to 0."""
    h, snaps = _fit(restore_best=False)
    status = np.array(snaps.status)
    first = int(np.argmax(status[:, 1] == "stopped"))
    loss = h.metric("train_loss")
    # the epoch it stopped at was trained; the next ones were not
    assert np.isfinite(loss[first, 1]) and np.isnan(loss[first + 1:, 1]).all()
    assert np.isnan(h.metric("train_error")[first + 1:, 1]).all()
    assert np.isfinite(loss[:, 0]).all() and loss[first + 1:, 0].min() > 0
    assert h.best_member("train_loss") != 1


def test_the_final_checkpoint_holds_the_state_reached_and_restore_best_comes_after(tmp_path):
    """A resumable checkpoint is the state the run reached (last epoch's weights with its
    moments and RNG); restoring the best epoch's weights is a step after it."""
    from netrx.train import Checkpoint

    X, y = _data()
    pop = Population(mlp(8, [16], 3), 2, device="cpu")
    last = {}

    class Last(Callback):
        def on_epoch_end(self, state, log):
            last.update({k: v.clone() for k, v in state.population.stacked_state().items()})

    es = EarlyStopping(patience=1, monitor="dev_loss", min_delta=0.5, restore_best=True)
    h = netrx.fit(pop, (X[:120], y[:120]), (X[120:], y[120:]), optimizer=sgd(0.5), epochs=30,
                  batch_size=20, callbacks=[es, Last(), Checkpoint(tmp_path / "c.pt")],
                  progress=False)
    assert len(h.logs) < 30 and (es.best_epoch < h.logs[-1].epoch).all()  # 1-based
    saved = torch.load(tmp_path / "c.pt", weights_only=True)["population"]
    for name, v in saved.items():
        torch.testing.assert_close(v, last[name], rtol=0, atol=0)
    first = next(iter(pop.params))
    assert not torch.equal(pop.params[first], last[first])  # the best epoch, restored after
