"""GradientMonitor: per-layer gradient norms, update ratios, saturation and dead ReLUs,
and the vanishing-gradient flag on a deep sigmoid net with poor initialisation."""

import csv

import numpy as np
import pytest
import torch
from torch import nn

from netrx import Population, fit
from netrx.diagnose import GradientMonitor
from netrx.errors import ConfigError
from netrx.nn import mlp
from netrx.optim.aliases import sgd
from netrx.train import Callback


class PoorLinear(nn.Linear):
    """The classic poor initialisation: w ~ N(0, 0.01²) whatever the fan-in."""

    def reset_parameters(self):
        nn.init.normal_(self.weight, 0.0, 0.01)
        nn.init.zeros_(self.bias)


def deep(activation: type[nn.Module], linear=PoorLinear, depth=20, width=16, d=10, classes=3):
    layers, n = [], d
    for _ in range(depth - 1):
        layers += [linear(n, width), activation()]
        n = width
    layers.append(linear(n, classes))
    return nn.Sequential(*layers)


class HeLinear(nn.Linear):
    def reset_parameters(self):
        nn.init.normal_(self.weight, 0.0, (2.0 / self.in_features) ** 0.5)
        nn.init.zeros_(self.bias)


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(128, 10, generator=g)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0).long()
    return X, y


def test_deep_sigmoid_with_poor_init_is_flagged_vanishing(data):
    X, y = data
    mon = GradientMonitor(probe=X[:64])
    fit(Population(deep(nn.Sigmoid), 2), (X, y), epochs=2, batch_size=64, callbacks=[mon],
        progress=False, optimizer=sgd(0.1))
    vanishing = mon.flagged("vanishing")
    assert vanishing and not mon.flagged("exploding")
    assert {f.member for f in vanishing} == {0, 1} and {f.epoch for f in vanishing} == {1, 2}
    assert "0.weight" in {f.layer for f in vanishing}  # the first layer
    assert "38.weight" not in {f.layer for f in vanishing}  # the last layer is the reference
    first = [f for f in vanishing if f.layer == "0.weight" and f.epoch == 1][0]
    assert "0.weight (PoorLinear)" in first.message and "epoch 1" in first.message
    layers, table = mon.table("grad_norm", member=0)
    weights = [i for i, n in enumerate(layers) if n.endswith("weight")]
    assert table[0, weights[0]] < 1e-6 * table[0, weights[-1]]  # orders of magnitude


def test_relu_with_he_init_is_not_flagged(data):
    X, y = data
    mon = GradientMonitor(probe=X[:64])
    fit(Population(deep(nn.ReLU, HeLinear), 2), (X, y), epochs=2, batch_size=64,
        callbacks=[mon], progress=False, optimizer=sgd(0.01))
    assert mon.flags == []
    layers, table = mon.table("grad_norm", member=1)
    weights = [i for i, n in enumerate(layers) if n.endswith("weight")]
    ratio = table[:, weights[0]] / table[:, weights[-1]]
    assert np.all(ratio > 1e-2)


class _Capture(Callback):
    """Independent reference: norms read straight from the population at each step."""

    def __init__(self, names):
        self.names, self.grad, self.ratio = names, [], []

    def on_step_end(self, state):
        pop = state.population
        self.grad.append([float(pop.params[n].grad[0].norm()) for n in self.names])
        upd = state.last_update[0]
        self.ratio.append([float(upd[slice(*pop.offsets[n])].norm()
                                 / pop.flat[0, slice(*pop.offsets[n])].norm())
                           for n in self.names])


def test_norms_and_update_ratios_match_a_direct_reading(data):
    X, y = data
    pop = Population(mlp(10, [12, 12], 3), 1, seed=2)
    names = list(pop.params)
    cap, mon = _Capture(names), GradientMonitor()
    fit(pop, (X, y), epochs=2, batch_size=32, callbacks=[cap, mon], progress=False)
    for epoch in (1, 2):
        steps = slice(4 * (epoch - 1), 4 * epoch)
        expected_g = np.mean(cap.grad[steps], axis=0)
        expected_r = np.mean(cap.ratio[steps], axis=0)
        rows = {r["layer"]: r for r in mon.records if r["epoch"] == epoch}
        for i, n in enumerate(names):
            assert rows[n]["grad_norm"] == pytest.approx(expected_g[i], rel=1e-5)
            assert rows[n]["update_ratio"] == pytest.approx(expected_r[i], rel=1e-5)
            assert rows[n]["kind"] == ("weight" if pop.params[n].dim() >= 3 else "bias")


def test_dead_relu_fraction_and_tanh_saturation(data, tmp_path):
    X, y = data
    net = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 10), nn.Tanh(),
                        nn.Linear(10, 3))
    with torch.no_grad():
        net[0].bias[:4] = -100.0  # four units that never fire
        net[2].weight.mul_(50.0)  # tanh driven into its flat tails
    pop = Population(net, 1, reinit=False)
    mon = GradientMonitor(probe=X)
    fit(pop, (X, y), epochs=1, batch_size=64, callbacks=[mon], progress=False,
        optimizer=sgd(1e-4))
    acts = {r["layer"]: r for r in mon.records if r["kind"] == "activation"}
    module = pop.member_module(0)
    with torch.no_grad():
        h = torch.relu(module[0](X))
        a = torch.tanh(module[2](h))
    assert acts["1"]["dead_fraction"] == pytest.approx(float((~(h > 0).any(0)).double().mean()))
    assert acts["1"]["dead_fraction"] >= 0.4
    assert acts["3"]["saturation"] == pytest.approx(float((a.abs() > 0.99).double().mean()))
    assert acts["3"]["saturation"] > 0.3
    mon.to_csv(tmp_path / "flow.csv")
    with open(tmp_path / "flow.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(mon.records) and rows[0]["epoch"] == "1"


def test_exploding_gradients_are_flagged(data):
    X, y = data

    class Big(nn.Linear):  # std 3/√n: every ReLU layer amplifies by about 3/√2 (He: 1)
        def reset_parameters(self):
            nn.init.normal_(self.weight, 0.0, 3.0 / self.in_features ** 0.5)
            nn.init.zeros_(self.bias)

    mon = GradientMonitor()
    fit(Population(deep(nn.ReLU, Big, depth=12), 1), (X, y), epochs=1, batch_size=64,
        callbacks=[mon], progress=False, optimizer=sgd(1e-12))
    flags = mon.flagged("exploding")
    assert flags and not mon.flagged("vanishing")
    assert flags[0].layer == "0.weight" and "epoch 1" in flags[0].message
    # the same depth with He initialisation is not flagged
    he = GradientMonitor()
    fit(Population(deep(nn.ReLU, HeLinear, depth=12), 1), (X, y), epochs=1, batch_size=64,
        callbacks=[he], progress=False, optimizer=sgd(1e-12))
    assert he.flags == []


def test_bad_arguments():
    with pytest.raises(ConfigError):
        GradientMonitor(every=0)
    with pytest.raises(ConfigError):
        GradientMonitor(vanishing_ratio=2)
    with pytest.raises(ConfigError, match="metric"):
        GradientMonitor().table("nope")
