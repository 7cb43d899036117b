"""Ensembles, snapshots and Polyak averaging against hand computations."""

import numpy as np
import torch

import netrx
from netrx.ensemble import PolyakAveraging, SnapshotEnsemble, average_outputs, recompute_batch_norm
from netrx.nn import mlp
from netrx.optim import sgd
from netrx.train import Callback
from netrx.train.losses import LOSSES


def _data(n=120, d=6, c=3):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, d)).astype(np.float32)
    return X, X[:, :c].argmax(1).astype(np.int64)


def test_average_outputs_is_the_mean_of_member_probabilities():
    X, y = _data()
    h = netrx.fit(mlp(6, [8], 3), (X, y), epochs=2, members=3, progress=False)
    pop, Xt = h.population, torch.as_tensor(X)
    expected = torch.stack([torch.softmax(pop.member_module(k)(Xt), -1) for k in (0, 2)]).mean(0)
    got = average_outputs(pop, Xt, LOSSES["cross_entropy"], members=[0, 2])
    torch.testing.assert_close(got, expected)


def test_polyak_average_matches_numpy_ewa_with_bias_correction():
    X, y = _data()
    trajectory = []

    class Record(Callback):
        def on_step_end(self, state):
            trajectory.append(state.population.flat[0].detach().double().numpy().copy())

    beta = 0.9
    polyak = PolyakAveraging(beta)
    netrx.fit(mlp(6, [8], 3), (X, y), optimizer=sgd(0.1), epochs=3, batch_size=30,
              callbacks=[Record(), polyak], progress=False)
    v = np.zeros_like(trajectory[0])
    for theta in trajectory:
        v = beta * v + (1 - beta) * theta
    expected = v / (1 - beta ** len(trajectory))
    np.testing.assert_allclose(polyak.averaged[0].double().numpy(), expected, rtol=1e-5,
                               atol=1e-6)


def test_polyak_swap_restores_trained_weights():
    X, y = _data()
    polyak = PolyakAveraging(0.5)
    h = netrx.fit(mlp(6, [8], 3, batch_norm=True), (X, y), epochs=2, callbacks=[polyak],
                  progress=False)
    pop = h.population
    before = {k: v.clone() for k, v in pop.stacked_state().items()}
    with polyak.swapped_in(pop, torch.as_tensor(X)):
        torch.testing.assert_close(pop.flat, polyak.averaged)
    for k, v in pop.stacked_state().items():
        torch.testing.assert_close(v, before[k])


def test_recompute_batch_norm_gives_the_data_statistics():
    X, y = _data()
    h = netrx.fit(mlp(6, [8], 3, batch_norm=True), (X, y), epochs=1, members=2, progress=False)
    pop = h.population
    recompute_batch_norm(pop, torch.as_tensor(X), batch_size=len(X))
    for k in range(2):
        module = pop.member_module(k)
        z = module[1](module[0](torch.as_tensor(X)))  # Linear output, before batch norm
        torch.testing.assert_close(pop.buffers["2.running_mean"][k], z.mean(0),
                                   rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(pop.buffers["2.running_var"][k], z.var(0, unbiased=True),
                                   rtol=1e-4, atol=1e-5)


def test_snapshot_ensemble_averages_snapshots():
    X, y = _data()
    snaps = SnapshotEnsemble(cycle=2)
    h = netrx.fit(mlp(6, [8], 3), (X, y), epochs=6, members=2, callbacks=[snaps],
                  progress=False)
    assert len(snaps.snapshots) == 3
    pop, Xt = h.population, torch.as_tensor(X)
    got = snaps.predict(pop, Xt, LOSSES["cross_entropy"])
    expected = []
    for snap in snaps.snapshots:
        pop.load_stacked_state(snap)
        expected.append(torch.softmax(pop.predict(Xt), -1))
    torch.testing.assert_close(got, torch.stack(expected).mean(0))
