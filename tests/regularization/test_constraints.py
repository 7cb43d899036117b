"""Proximal L1 (soft-thresholding, exact zeros) and the max-norm projection."""

import copy

import numpy as np
import pytest
import torch

import netrx
from netrx.errors import ConfigError
from netrx.nn import cnn1d, mlp
from netrx.optim import adam, sgd
from netrx.population.population import Population
from netrx.regularize.constraints import MaxNorm, ProximalL1, max_norm_, soft_threshold_


def _data(n=64, d=6, c=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = X[:, :c].argmax(1).astype(np.int64)
    return X, y


def test_soft_threshold_matches_numpy():
    w = torch.randn(3, 50, dtype=torch.float64)
    t = torch.tensor([[0.0], [0.3], [1.0]], dtype=torch.float64)
    expected = np.sign(w.numpy()) * np.maximum(np.abs(w.numpy()) - t.numpy(), 0.0)
    soft_threshold_(w, t)
    np.testing.assert_array_equal(w.numpy(), expected)


def test_proximal_step_after_sgd_is_soft_threshold_of_the_gradient_step():
    """w := S(w − α·dW, α·λ/m) on weights; b := b − α·db; per-member λ."""
    X, y = _data()
    m, alpha = len(y), 0.5
    lam = torch.tensor([0.0, 20.0, 80.0])
    model = mlp(6, [8], 3).double()
    pop = Population(model, 3, device="cpu", dtype=torch.float64)
    refs = [copy.deepcopy(model) for _ in range(3)]
    for k, ref in enumerate(refs):
        ref.load_state_dict(pop.member_state(k))
    netrx.fit(pop, (X, y), optimizer=sgd(alpha), epochs=1, batch_size=m, progress=False,
              callbacks=[ProximalL1(lam, m, alpha)])
    Xt, yt = torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(y)
    for k, ref in enumerate(refs):
        ref.zero_grad()
        torch.nn.functional.cross_entropy(ref(Xt), yt).backward()
        for name, p in ref.named_parameters():
            step = (p - alpha * p.grad).detach().numpy()
            if p.dim() >= 2:
                t = alpha * float(lam[k]) / m
                step = np.sign(step) * np.maximum(np.abs(step) - t, 0.0)
            np.testing.assert_allclose(pop.params[name][k].detach().numpy(), step,
                                       rtol=1e-10, atol=1e-12)


def test_proximal_l1_gives_exact_zeros_and_subgradient_does_not():
    X, y = _data(n=128)
    m = len(y)
    prox = netrx.fit(mlp(6, [32], 3), (X, y), optimizer=adam(1e-2), epochs=10, batch_size=32,
                     progress=False, callbacks=[ProximalL1(torch.tensor([0.0, 60.0]), m, 1e-2)],
                     members=2)
    pop = prox.population
    w = pop.flat[:, pop.weight_mask()[0].bool()]
    zeros = (w == 0).double().mean(1)
    assert zeros[0] == 0 and zeros[1] > 0.1
    bias = pop.flat[:, ~pop.weight_mask()[0].bool()]
    assert (bias[1] == 0).double().mean() < 0.5  # biases are not thresholded
    from netrx.regularize.penalties import l1_penalty

    sub = netrx.fit(mlp(6, [32], 3), (X, y), optimizer=adam(1e-2), epochs=10, batch_size=32,
                    progress=False, penalty=l1_penalty(60.0, m))
    w = sub.population.flat[:, sub.population.weight_mask()[0].bool()]
    assert float((w == 0).double().mean()) < 0.01


def test_proximal_l1_reads_a_schedule_and_spares_stopped_members():
    pop = Population(mlp(6, [8], 3), 2, device="cpu")
    pop.stopped[1] = True
    before = pop.flat.clone()
    seen = []

    def lr(state):
        seen.append(state.step)
        return torch.tensor([1.0, 1.0])

    cb = ProximalL1(1.0, 1, lr)
    state = netrx.train.FitState(pop, sgd(0.1), None, 1)
    cb.on_fit_start(state)
    cb.on_step_end(state)
    mask = pop.weight_mask()[0].bool()
    assert seen == [0]
    torch.testing.assert_close(pop.flat[1], before[1])  # stopped: untouched
    w0 = before[0, mask]
    expected = torch.sign(w0) * torch.clamp(w0.abs() - 1.0, min=0)
    torch.testing.assert_close(pop.flat[0, mask], expected)
    torch.testing.assert_close(pop.flat[0, ~mask], before[0, ~mask])


def _numpy_max_norm(w, c):
    rows = w.reshape(w.shape[0], -1)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows * np.minimum(1.0, c / norms)).reshape(w.shape)


def test_max_norm_projects_each_units_incoming_weights():
    w = torch.randn(2, 7, 5, dtype=torch.float64) * torch.tensor([1.0, 0.1]).view(2, 1, 1).double()
    c = torch.tensor([[1.0], [0.5]], dtype=torch.float64)
    expected = [_numpy_max_norm(w[k].numpy(), float(c[k])) for k in range(2)]
    max_norm_(w, c)
    for k in range(2):
        np.testing.assert_allclose(w[k].numpy(), expected[k], rtol=1e-12)
    assert (w[0].norm(dim=1) <= 1.0 + 1e-12).all()
    # conv kernel [K, out, in, k]: the norm runs over in × k per output channel
    kern = torch.randn(1, 4, 3, 5, dtype=torch.float64) * 3
    expected = _numpy_max_norm(kern[0].numpy(), 2.0)
    max_norm_(kern, torch.tensor([[2.0]], dtype=torch.float64))
    np.testing.assert_allclose(kern[0].numpy(), expected, rtol=1e-12)


def test_max_norm_callback_during_training():
    X, y = _data()
    c = torch.tensor([0.5, 100.0])
    pop = Population(cnn1d(6, 3, channels=4), 2, device="cpu")
    h = netrx.fit(pop, (X, y), optimizer=adam(0.05), epochs=5, batch_size=16,
                  progress=False, callbacks=[MaxNorm(c)])
    for name, p in h.population.params.items():
        if p.dim() >= 3:
            norms = p.detach().flatten(2).norm(dim=2)
            assert (norms[0] <= 0.5 + 1e-5).all(), name
    assert any((p.detach()[1].flatten(1).norm(dim=1) > 0.5).any()
               for p in h.population.params.values() if p.dim() >= 3)
    with pytest.raises(ConfigError, match="> 0"):
        MaxNorm(0.0)
    with pytest.raises(ConfigError, match="≥ 0"):
        ProximalL1(-1.0, 10, 0.1)
