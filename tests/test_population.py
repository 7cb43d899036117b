"""The population engine: K members trained together equal K single runs."""

import numpy as np
import pytest
import torch
from torch import nn

import netrx
from netrx.errors import ConfigError
from netrx.nn import BatchNorm, Dropout, mlp
from netrx.optim import adam, sgd
from netrx.population.population import Population


def _data(n=240, d=12, c=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, :c].argmax(1)).astype(np.int64)
    return X, y


@pytest.mark.parametrize("batch_norm", [False, True])
def test_population_equals_single_runs(batch_norm):
    X, y = _data()
    model = mlp(12, [16, 16], 4, batch_norm=batch_norm)
    seeds = [3, 7, 11]
    pop_hist = netrx.fit(model, (X, y), (X[:50], y[:50]), optimizer=adam(3e-3), epochs=3,
                         batch_size=32, members=3, seed=seeds, progress=False, device="cpu")
    pop = pop_hist.population
    for k, s in enumerate(seeds):
        single = netrx.fit(model, (X, y), (X[:50], y[:50]), optimizer=adam(3e-3), epochs=3,
                           batch_size=32, members=1, seed=s, progress=False, device="cpu")
        one = single.population
        torch.testing.assert_close(pop.flat[k], one.flat[0], rtol=1e-5, atol=1e-6)
        for name in pop.buffers:
            torch.testing.assert_close(pop.buffers[name][k], one.buffers[name][0],
                                       rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(pop_hist.metric("dev_loss")[:, k],
                                   single.metric("dev_loss")[:, 0], rtol=1e-5)


def test_any_module_works_and_matches_plain_pytorch():
    """A user nn.Module in a K=1 population follows the same path as a hand loop."""
    X, y = _data(n=64)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 4))
    pop = Population(model, 1, reinit=False, device="cpu")
    ref = nn.Sequential(nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 4))
    ref.load_state_dict(model.state_dict())
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    netrx.fit(pop, (X, y), optimizer=sgd(0.1), epochs=1, batch_size=64, progress=False)
    loss = nn.functional.cross_entropy(ref(torch.as_tensor(X)), torch.as_tensor(y))
    opt.zero_grad()
    loss.backward()
    opt.step()  # full batch: the shuffled order does not change the mean gradient
    for name, p in ref.named_parameters():
        torch.testing.assert_close(pop.params[name][0].detach(), p.detach(), rtol=1e-5, atol=1e-6)


def test_members_get_different_dropout_masks_and_rates():
    model = mlp(10, [64], 3, dropout=0.5)
    pop = Population(model, 4, device="cpu")
    pop.set_buffer(lambda m: isinstance(m, Dropout), "p", [0.0, 0.5, 0.5, 0.9])
    x = torch.randn(4, 32, 10)
    out = pop.forward(x[:1].expand(4, 32, 10), train=True)
    assert out.shape == (4, 32, 3)
    hidden = {}

    def keep(mod, inp, outp):
        hidden["a"] = outp

    # run the single-member module of each member to read the dropout pattern directly
    zeros = []
    for k in range(4):
        m = pop.member_module(k).train()
        m[3].register_forward_hook(keep)
        m(x[0])
        zeros.append(float((hidden["a"] == 0).float().mean()))
    assert zeros[0] < zeros[1] < zeros[3]
    assert abs(zeros[3] - 0.9) < 0.08


def test_member_seeds_and_validation():
    model = mlp(4, [3], 2)
    with pytest.raises(ConfigError, match="seeds"):
        Population(model, 3, seed=[1, 2])
    with pytest.raises(ConfigError, match="at least 1"):
        Population(model, 0)
    with pytest.raises(ConfigError):
        Population("not a module", 1)  # type: ignore[arg-type]
    pop = Population(model, 2, seed=5)
    assert pop.seeds == [5, 6]
    assert not torch.equal(pop.flat[0], pop.flat[1])


def test_weight_mask_covers_weights_not_biases_or_batchnorm():
    pop = Population(mlp(4, [3], 2, batch_norm=True), 2)
    mask = pop.weight_mask()
    expected = sum(int(np.prod(s)) for s in pop.shapes.values() if len(s) >= 2)
    assert int(mask.sum()) == expected
    bn = [n for n in pop.shapes if n.endswith("weight") and len(pop.shapes[n]) == 1]
    assert bn  # batch-norm γ exists and is excluded
    assert isinstance(pop.member_module(0)[2], BatchNorm)


def test_member_module_predicts_like_population():
    X, y = _data(n=80)
    hist = netrx.fit(mlp(12, [8], 4), (X, y), epochs=2, members=3, progress=False)
    pop = hist.population
    out = pop.predict(torch.as_tensor(X))
    for k in range(3):
        torch.testing.assert_close(pop.member_module(k)(torch.as_tensor(X)), out[k])
