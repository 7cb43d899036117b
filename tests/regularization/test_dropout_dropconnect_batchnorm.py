"""Inverted dropout, input dropout, DropConnect and batch norm, member-wise."""

import numpy as np
import pytest
import torch

import netrx
from netrx.errors import ConfigError
from netrx.nn import BatchNorm, DropConnect, Dropout, InputDropout, mlp
from netrx.optim import sgd
from netrx.population.population import Population
from netrx.regularize.penalties import l2_penalty


def test_inverted_dropout_keeps_the_mean_and_is_identity_at_eval():
    layer = Dropout(0.4)
    a = torch.rand(200, 300) + 0.5
    out = layer.train()(a)
    kept = out != 0
    assert abs(float(kept.float().mean()) - 0.6) < 0.015
    torch.testing.assert_close(out[kept], a[kept] / 0.6)  # a /= keep_prob
    assert abs(float(out.mean() / a.mean()) - 1) < 0.02  # E[a] unchanged
    assert torch.equal(layer.eval()(a), a)


def test_dropout_masks_and_rates_differ_per_member():
    model = torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False), Dropout(0.5))
    pop = Population(model, 3, device="cpu")
    with torch.no_grad():
        pop.params["0.weight"].fill_(1.0)
    pop.set_buffer(lambda mod: isinstance(mod, Dropout), "p", [0.2, 0.5, 0.5])
    x = torch.ones(3000, 1)
    out = pop.forward(x, train=True, shared=True)[..., 0]  # [K, B]
    kept = (out != 0).float().mean(1)
    torch.testing.assert_close(kept, torch.tensor([0.8, 0.5, 0.5]), atol=0.03, rtol=0)
    assert not torch.equal(out[1] != 0, out[2] != 0)  # same rate, own masks
    torch.testing.assert_close(out.mean(1), torch.ones(3), atol=0.05, rtol=0)
    assert torch.equal(pop.forward(x, train=False, shared=True)[..., 0], torch.ones(3, 3000))


def test_input_dropout_has_its_own_rate():
    model = mlp(20, [8], 2, dropout=0.5, input_dropout=0.3)
    drops = [m for m in model if isinstance(m, Dropout)]
    assert isinstance(model[1], InputDropout) and len(drops) == 2
    pop = Population(model, 2, device="cpu")
    assert pop.set_buffer(lambda m: isinstance(m, InputDropout), "p", [0.1, 0.2]) == 1
    assert pop.set_buffer(lambda m: type(m) is Dropout, "p", [0.0, 0.7]) == 1
    assert pop.buffers["1.p"].tolist() == pytest.approx([0.1, 0.2])
    assert pop.buffers["4.p"].tolist() == pytest.approx([0.0, 0.7])
    x = torch.randn(50, 20)
    m = pop.member_module(0).train()
    seen = {}
    m[1].register_forward_hook(lambda mod, i, o: seen.setdefault("x", o))
    m(x)
    frac = float((seen["x"] == 0).float().mean())
    assert 0.03 < frac < 0.2


def test_dropconnect_masks_weights_in_training_and_uses_w_at_eval():
    torch.manual_seed(3)
    layer = DropConnect(60, 80, p=0.25)
    a = torch.randn(7, 60)
    eval_out = layer.eval()(a)
    torch.testing.assert_close(eval_out, a @ layer.weight.T + layer.bias)  # mean network
    layer.train()
    seen = {}
    real_rand = torch.rand_like

    def spy(t, *args, **kwargs):
        r = real_rand(t, *args, **kwargs)
        seen["mask"] = r < 0.75
        return r

    torch.rand_like = spy
    try:
        out = layer(a)
    finally:
        torch.rand_like = real_rand
    mask = seen["mask"]
    assert mask.shape == layer.weight.shape
    assert abs(float(mask.float().mean()) - 0.75) < 0.02
    expected = a @ (layer.weight * mask / 0.75).T + layer.bias
    torch.testing.assert_close(out, expected)
    # E over masks of the training output is the eval output
    R = 300
    with torch.no_grad():
        mean = torch.stack([layer(a) for _ in range(R)]).mean(0)
        # Var of one draw: Σ_i a_i² w_i² (1 − keep)/keep; 5 standard errors of the mean
        sd = ((a ** 2) @ (layer.weight ** 2).T * (0.25 / 0.75) / R).sqrt()
    assert ((mean - eval_out).abs() < 5 * sd).all()
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        DropConnect(3, 3, p=1.0)


def test_dropconnect_population_rates_and_masks_per_member():
    model = mlp(30, [40], 5, dropconnect=0.5)
    assert isinstance(model[-1], DropConnect) and not isinstance(model[1], DropConnect)
    pop = Population(model, 3, device="cpu")
    pop.set_buffer(lambda m: isinstance(m, DropConnect), "p", [0.0, 0.5, 0.5])
    x = torch.randn(16, 30)
    train = pop.forward(x, train=True, shared=True)
    evals = pop.forward(x, train=False, shared=True)
    torch.testing.assert_close(train[0], evals[0])  # rate 0: no mask
    assert not torch.allclose(train[1], evals[1])
    twice = pop.forward(x, train=True, shared=True)
    assert not torch.allclose(train[1], twice[1])  # a new mask each batch


def _numpy_batch_norm_eval(batches, gamma, beta, momentum, eps, x):
    """Running μ, σ² as EWAs v := (1 − m)·v + m·stat of the batch statistics (unbiased
    variance), then γ·(x − μ)/√(σ² + ε) + β."""
    mu, var = np.zeros(x.shape[1]), np.ones(x.shape[1])
    for z in batches:
        n = z.shape[0]
        mu = (1 - momentum) * mu + momentum * z.mean(0)
        var = (1 - momentum) * var + momentum * z.var(0) * n / (n - 1)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, mu, var


def test_batch_norm_train_normalises_and_eval_uses_ewa_statistics():
    torch.manual_seed(0)
    bn = BatchNorm(5, momentum=0.3).double()
    with torch.no_grad():
        bn.weight.copy_(torch.linspace(0.5, 2.0, 5))
        bn.bias.copy_(torch.linspace(-1.0, 1.0, 5))
    batches = [torch.randn(32, 5, dtype=torch.float64) * 3 + 2 for _ in range(6)]
    bn.train()
    for z in batches:
        out = bn(z)
        z_norm = (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + bn.eps)
        torch.testing.assert_close(out, bn.weight * z_norm + bn.bias)
    x = torch.randn(10, 5, dtype=torch.float64)
    expected, mu, var = _numpy_batch_norm_eval([b.numpy() for b in batches],
                                               bn.weight.detach().numpy(),
                                               bn.bias.detach().numpy(), 0.3, bn.eps, x.numpy())
    np.testing.assert_allclose(bn.running_mean.numpy(), mu, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), var, rtol=1e-12)
    np.testing.assert_allclose(bn.eval()(x).detach().numpy(), expected, rtol=1e-12)


def test_population_with_batch_norm_and_per_member_l2_equals_single_runs():
    """Per-member batch statistics and running averages, per-member λ: member k of the
    population is the single run with seed k and λ_k."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 10)).astype(np.float32)
    y = X[:, :3].argmax(1).astype(np.int64)
    model = mlp(10, [12, 12], 3, batch_norm=True, bn_momentum=0.2)
    lams = [0.0, 5.0, 20.0]
    pop_hist = netrx.fit(model, (X, y), (X[:30], y[:30]), optimizer=sgd(0.1),
                         penalty=l2_penalty(torch.tensor(lams), 96), epochs=3, batch_size=16,
                         members=3, seed=[4, 5, 6], progress=False, device="cpu")
    pop = pop_hist.population
    assert float(pop.buffers["2.running_mean"].abs().sum()) > 0
    for k, lam in enumerate(lams):
        single = netrx.fit(model, (X, y), (X[:30], y[:30]), optimizer=sgd(0.1),
                           penalty=l2_penalty(lam, 96), epochs=3, batch_size=16, members=1,
                           seed=4 + k, progress=False, device="cpu").population
        torch.testing.assert_close(pop.flat[k], single.flat[0], rtol=1e-5, atol=1e-6)
        for name in pop.buffers:
            torch.testing.assert_close(pop.buffers[name][k], single.buffers[name][0],
                                       rtol=1e-5, atol=1e-6)
