"""The stacked routes of netrx.population.batched (one batched product for K members'
Linear and Conv1d layers) against vmap and against K single runs: same outputs, gradients
and buffers, whichever route a population takes."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import netrx
from netrx.nn import cnn1d, mlp
from netrx.optim import adam
from netrx.population.batched import StackedConv1d, StackedLinear
from netrx.population.population import Population
from test_population_equivalence import assert_same_pass


def _vmap_forward(pop, x, key):
    pop.template.train(True)
    return pop._vmapped(pop.params, pop.buffers, x, key)


@pytest.mark.parametrize("shape", [(2, 3, 1, 11, 4, 5, 2, 1, True),
                                   (3, 2, 4, 9, 5, 3, 1, 0, False),
                                   (2, 4, 3, 8, 2, 3, 3, 2, True),
                                   (1, 2, 2, 5, 3, 5, 1, 2, True)])
def test_stacked_conv1d_is_k_conv1d_calls_values_and_gradients(shape):
    K, B, C, L, n_out, k, stride, padding, bias = shape
    g = torch.Generator().manual_seed(0)
    x = torch.randn(K, B, C, L, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(K, n_out, C, k, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(K, n_out, generator=g, dtype=torch.float64, requires_grad=True) \
        if bias else None
    out = StackedConv1d.apply(x, w, b, stride, padding)
    want = torch.stack([F.conv1d(x[i], w[i], None if b is None else b[i], stride=stride,
                                 padding=padding) for i in range(K)])
    torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)
    inputs = (x, w) if b is None else (x, w, b)
    assert torch.autograd.gradcheck(
        lambda *t: StackedConv1d.apply(t[0], t[1], t[2] if len(t) > 2 else None, stride,
                                       padding), inputs)


def test_stacked_linear_gradients():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 5, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 2, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(StackedLinear.apply, (x, w, b))
    assert torch.autograd.gradcheck(lambda x, w: StackedLinear.apply(x, w, None), (x, w))


@pytest.mark.parametrize("options", [{}, {"batch_norm": True}, {"dropout": 0.3},
                                     {"input_dropout": 0.1}])
def test_cnn1d_population_takes_the_stacked_route_and_matches_vmap(options):
    pop = Population(cnn1d(24, 3, channels=5, **options), 3, seed=2, device="cpu",
                     dtype=torch.float64)
    assert pop._plan is not None
    assert sum(c.conv1d is not None for c in pop._plan.children) == 3
    x = torch.randn(3, 6, 24, dtype=torch.float64)
    key = pop.streams.key()
    assert_same_pass(pop, lambda: pop.forward(x, train=True),
                     lambda: _vmap_forward(pop, x, key), rtol=1e-10, atol=1e-12)


def test_a_conv1d_the_stacked_route_does_not_cover_keeps_vmap():
    model = nn.Sequential(nn.Conv1d(2, 3, 3, dilation=2), nn.ReLU(), nn.Conv1d(3, 3, 3, groups=3),
                          nn.Conv1d(3, 2, 3, padding="same"), nn.Flatten())
    pop = Population(model, 2, device="cpu", dtype=torch.float64)
    assert all(c.conv1d is None for c in pop._plan.children)
    x = torch.randn(2, 4, 2, 12, dtype=torch.float64)
    out = pop.forward(x, train=True)
    want = torch.stack([pop.member_module(k).double().train()(x[k]) for k in range(2)])
    torch.testing.assert_close(out, want)


def test_member_k_of_a_cnn1d_population_equals_its_single_run():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 20)).astype(np.float32)
    y = (X[:, :3].argmax(1)).astype(np.int64)
    seeds = [3, 8, 1]
    kw = dict(optimizer=adam(3e-3), epochs=2, batch_size=32, progress=False, device="cpu")
    make = lambda: cnn1d(20, 3, channels=6, dropout=0.2)  # noqa: E731
    pop = netrx.fit(make(), (X, y), members=3, seed=seeds, **kw).population
    for k, s in enumerate(seeds):
        one = netrx.fit(make(), (X, y), members=1, seed=s, **kw).population
        torch.testing.assert_close(pop.flat[k], one.flat[0], rtol=1e-5, atol=1e-6)


def test_the_same_fit_twice_gives_the_same_numbers():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 16)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    runs = [netrx.fit(make(), (X, y), members=4, epochs=2, batch_size=16, progress=False,
                      device="cpu", optimizer=adam(1e-2))
            for make in (lambda: cnn1d(16, 2, channels=4, batch_norm=True),) * 2]
    assert torch.equal(runs[0].population.flat, runs[1].population.flat)
    assert np.array_equal(runs[0].metric("train_loss"), runs[1].metric("train_loss"))
    rm = [r.population.buffers["2.running_mean"] for r in runs]
    assert torch.equal(rm[0], rm[1])
    assert mlp  # the MLP routes are covered by test_population_equivalence.py
