"""The fast forward routes of a population (netrx.population.batched) compute what vmap
computes, and member k of a population trained on them equals a single run with seed k."""

import numpy as np
import pytest
import torch
from torch import nn

import netrx
from netrx.nn import mlp
from netrx.optim import adam
from netrx.population.batched import LayerPlan
from netrx.population.population import Population


def _data(n=192, d=10, c=3, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, :c].argmax(1)).astype(np.int64)
    return X, y


def _vmap_forward(pop, x, train, key):
    pop.template.train(train)
    return pop._vmapped(pop.params, pop.buffers, x, key)


def assert_same_pass(pop, fast, ref, *, rtol: float, atol: float) -> None:
    """``fast()`` and ``ref()`` (two routes of one training forward pass), each run from the
    same buffers, give the same outputs, flat gradients and buffers. The loss weights
    member k by k + 1, so a gradient that lands on the wrong member shows."""
    buffers0 = {n: b.clone() for n, b in pop.buffers.items()}
    weights = torch.arange(1.0, pop.members + 1, dtype=pop.dtype)[:, None]

    def run(forward):
        for n, b in pop.buffers.items():
            b.copy_(buffers0[n])
        pop.flat_grad.zero_()
        out = forward()
        (out.square().sum(-1) * weights).sum().backward()
        return out.detach(), pop.flat_grad.clone(), {n: b.clone() for n, b in pop.buffers.items()}

    got, want = run(fast), run(ref)
    torch.testing.assert_close(got[0], want[0], rtol=rtol, atol=atol)
    torch.testing.assert_close(got[1], want[1], rtol=rtol, atol=atol)
    for n in got[2]:
        torch.testing.assert_close(got[2][n], want[2][n], rtol=rtol, atol=atol)


@pytest.mark.parametrize("options", [{}, {"dropout": 0.3}, {"batch_norm": True},
                                     {"activation": "tanh"}])
def test_layer_plan_matches_vmap_outputs_gradients_and_buffers(options):
    pop = Population(mlp(10, [16, 12], 3, **options), 4, seed=5, device="cpu")
    assert pop._plan is not None
    x = torch.randn(4, 8, 10)
    key = pop.streams.key()  # the forward pass advances the streams after drawing from it
    # same dropout masks for both routes: the members' streams, not torch's generator
    assert_same_pass(pop, lambda: pop.forward(x, train=True),
                     lambda: _vmap_forward(pop, x, True, key), rtol=1e-5, atol=1e-6)


class _Residual(nn.Module):
    """Not a Sequential: the population keeps the whole-module vmap route."""

    def __init__(self):
        super().__init__()
        self.inp, self.hidden, self.out = nn.Linear(10, 16), nn.Linear(16, 16), nn.Linear(16, 3)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        return self.out(h + torch.tanh(self.hidden(h)))


@pytest.mark.parametrize("make", [
    lambda: mlp(10, [16, 16], 3),
    lambda: nn.Sequential(nn.Linear(10, 16), nn.GELU(), nn.Linear(16, 3, bias=False)),
    _Residual,
])
def test_member_k_equals_a_single_run_with_seed_k(make):
    X, y = _data()
    seeds = [2, 9, 4]
    kw = dict(optimizer=adam(3e-3), epochs=2, batch_size=48, progress=False, device="cpu")
    pop = netrx.fit(make(), (X, y), members=3, seed=seeds, **kw).population
    for k, s in enumerate(seeds):
        one = netrx.fit(make(), (X, y), members=1, seed=s, **kw).population
        assert one._single is not None
        torch.testing.assert_close(pop.flat[k], one.flat[0], rtol=1e-5, atol=1e-6)


def test_single_member_module_shares_the_population_storage():
    pop = Population(mlp(6, [5], 2, batch_norm=True), 1, device="cpu")
    single = pop._single
    assert single is not None
    for name, p in single.named_parameters():
        assert p.data_ptr() == pop.params[name].data_ptr()
        assert p.grad.data_ptr() == pop.params[name].grad.data_ptr()
    out = pop.forward(torch.randn(1, 7, 6) + 3.0, train=True)
    out.sum().backward()
    assert pop.flat_grad.abs().sum() > 0  # gradients landed in the flat layout
    assert pop.buffers["2.running_mean"].abs().sum() > 0  # batch-norm stats updated in place
    with torch.no_grad():
        pop.flat.zero_()
    assert all(float(p.detach().abs().sum()) == 0 for p in single.parameters())


def test_hooked_layers_and_other_modules_take_the_vmap_route():
    pop = Population(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)), 2,
                     device="cpu")
    seen = []
    handle = pop.template[0].register_forward_hook(lambda m, a, out: seen.append(out.shape))
    try:
        out = pop.forward(torch.randn(2, 5, 4), train=True)
    finally:
        handle.remove()
    assert out.shape == (2, 5, 2) and seen == [torch.Size([5, 3])]  # per member, under vmap
    assert LayerPlan.build(_Residual().to("meta"), {}, {}) is None
    tied = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    tied[2].weight = tied[0].weight
    assert Population(tied, 2, device="cpu")._plan is None
    assert Population(tied, 1, device="cpu")._single is None


@pytest.mark.parametrize("members", [1, 2])
def test_forward_sets_the_mode_of_every_submodule(members):
    pop = Population(mlp(6, [32], 2, dropout=0.5), members, device="cpu")
    x = torch.randn(members, 16, 6)
    pop.forward(x, train=True)
    pop.template[3].eval()  # as recompute_batch_norm leaves dropout layers
    pop.forward(x, train=True)
    assert all(m.training for m in pop.template.modules())
    a, b = pop.forward(x, train=False), pop.forward(x, train=False)
    torch.testing.assert_close(a, b)  # evaluation: dropout off, on every route
    assert not any(m.training for m in pop.template.modules())
    assert not torch.equal(pop.forward(x, train=True), pop.forward(x, train=True))
