"""Members that do not train inside fit: a stopped member keeps its parameters and buffers
bit for bit; a diverged member's parameters freeze at once and its buffers from the next
epoch on; when every member trains the loop saves and restores no buffers."""

import numpy as np
import torch

import netrx
from netrx.nn import mlp
from netrx.optim import adam, sgd
from netrx.population.population import Population
from netrx.train import Callback


def _data(n=96, d=6, c=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    return X, X[:, :c].argmax(1).astype(np.int64)


class Snapshots(Callback):
    def __init__(self):
        self.states = []

    def on_epoch_end(self, state, log):
        self.states.append({k: v.clone() for k, v in state.population.stacked_state().items()})


def test_a_member_stopped_before_the_fit_keeps_weights_and_batch_norm_statistics():
    X, y = _data()
    pop = Population(mlp(6, [8], 3, batch_norm=True), 3, device="cpu")
    pop.stopped[1] = True
    before = {k: v.clone() for k, v in pop.stacked_state().items()}
    netrx.fit(pop, (X, y), optimizer=adam(1e-2), epochs=2, batch_size=16, progress=False)
    after = pop.stacked_state()
    for name, v in after.items():
        assert torch.equal(v[1], before[name][1]), name
    assert not torch.equal(after["2.running_mean"][0], before["2.running_mean"][0])


def test_a_diverged_member_freezes_and_the_others_go_on():
    X, y = _data()
    X[:, 0] *= 1e3
    snaps = Snapshots()
    h = netrx.fit(mlp(6, [8], 3, batch_norm=True), (X, y),
                  optimizer=sgd(torch.tensor([1e-3, 1e6])), epochs=4, batch_size=16, members=2,
                  progress=False, callbacks=[snaps])
    assert h.logs[-1].status == ["training", "diverged"]
    first = next(i for i, log in enumerate(h.logs) if log.status[1] == "diverged")
    for later in snaps.states[first + 1:]:
        for name, v in later.items():  # frozen from the epoch after it diverged
            torch.testing.assert_close(v[1], snaps.states[first][name][1], rtol=0, atol=0,
                                       equal_nan=True, msg=name)
    assert not torch.equal(snaps.states[-1]["1.weight"][0], snaps.states[first]["1.weight"][0])


def test_no_buffer_is_saved_or_restored_while_every_member_trains(monkeypatch):
    import netrx.train.loop as loop

    calls = []
    monkeypatch.setattr(loop, "_restore_inactive", lambda *a: calls.append(a))
    X, y = _data()
    netrx.fit(mlp(6, [8], 3, batch_norm=True), (X, y), epochs=1, batch_size=16, members=2,
              progress=False)
    assert calls == []
    pop = Population(mlp(6, [8], 3, batch_norm=True), 2, device="cpu")
    pop.stopped[0] = True
    netrx.fit(pop, (X, y), epochs=1, batch_size=16, progress=False)
    assert len(calls) == 6  # every step of the epoch: 96 / 16
