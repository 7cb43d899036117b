"""L2 and L1 penalties: the notes' formulas, weight decay equivalence, decoupled decay."""

import numpy as np
import pytest
import torch

import netrx
from netrx.errors import ConfigError
from netrx.nn import mlp
from netrx.optim import adam, sgd
from netrx.optim.weight_decay import decoupled_weight_decay
from netrx.population.population import Population
from netrx.regularize.penalties import combine, l1_penalty, l2_penalty


def _data(n=64, d=6, c=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = X[:, :c].argmax(1).astype(np.int64)
    return X, y


def _numpy_l2(pop, k, lam, m):
    """λ/2m Σ_l ‖W[l]‖²_F, the notes' formula, over the weight matrices only."""
    weights = [pop.params[n][k].detach().double().numpy() for n, s in pop.shapes.items()
               if len(s) >= 2]
    return lam / (2 * m) * sum(float(np.sum(W ** 2)) for W in weights)


def test_l2_value_matches_the_notes_formula_per_member():
    pop = Population(mlp(6, [5, 4], 3, batch_norm=True), 3, device="cpu")
    lam, m = torch.tensor([0.0, 0.7, 2.0]), 50
    got = l2_penalty(lam, m)(pop.params).detach()
    assert got.shape == (3,)
    for k in range(3):
        assert float(got[k]) == pytest.approx(_numpy_l2(pop, k, float(lam[k]), m), rel=1e-5)


def test_l2_gradient_is_lambda_over_m_times_w_on_weights_only():
    pop = Population(mlp(6, [5], 3, batch_norm=True), 2, device="cpu", dtype=torch.float64)
    lam, m = 1.3, 40
    pop.flat_grad.zero_()
    l2_penalty(lam, m)(pop.params).sum().backward()
    for name, shape in pop.shapes.items():
        grad = pop.params[name].grad
        if len(shape) >= 2:
            torch.testing.assert_close(grad, lam / m * pop.params[name].detach())
        else:  # biases and batch-norm γ, β get nothing
            assert torch.count_nonzero(grad) == 0
    # two-sided finite differences of the NumPy formula at a few entries
    name = next(n for n, s in pop.shapes.items() if len(s) >= 2)
    w = pop.params[name]
    for idx in [(0, 0, 0), (1, 2, 3), (0, 4, 5)]:
        h = 1e-6
        with torch.no_grad():
            w[idx] += h
            plus = _numpy_l2(pop, idx[0], lam, m)
            w[idx] -= 2 * h
            minus = _numpy_l2(pop, idx[0], lam, m)
            w[idx] += h
        assert float(w.grad[idx]) == pytest.approx((plus - minus) / (2 * h), rel=1e-6)


@pytest.mark.parametrize("bn", [False, True])
def test_l2_with_sgd_multiplies_w_by_one_minus_alpha_lambda_over_m(bn):
    """W := (1 − αλ/m)·W − α·dW_loss and b := b − α·db, member by member (full batch)."""
    X, y = _data()
    m, alpha, lam = len(y), 0.1, torch.tensor([0.0, 3.0, 12.0])
    model = mlp(6, [8], 3, batch_norm=bn)
    pop = Population(model, 3, seed=4, device="cpu")
    refs = [pop.member_module(k).train() for k in range(3)]
    netrx.fit(pop, (X, y), optimizer=sgd(alpha), penalty=l2_penalty(lam, m), epochs=3,
              batch_size=m, progress=False)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    for k, ref in enumerate(refs):
        for _ in range(3):
            ref.zero_grad()
            torch.nn.functional.cross_entropy(ref(Xt), yt).backward()
            with torch.no_grad():
                for p in ref.parameters():
                    if p.dim() >= 2:
                        p.mul_(1 - alpha * float(lam[k]) / m)
                    p.sub_(alpha * p.grad)
        for name, p in ref.named_parameters():
            torch.testing.assert_close(pop.params[name][k].detach(), p.detach(),
                                       rtol=1e-5, atol=1e-6)


def test_decoupled_weight_decay_with_sgd_equals_l2():
    X, y = _data()
    m, alpha, lam = len(y), 0.1, 6.0
    a = netrx.fit(mlp(6, [8], 3), (X, y), optimizer=sgd(alpha), penalty=l2_penalty(lam, m),
                  epochs=4, batch_size=16, members=2, progress=False, device="cpu")
    pop = Population(mlp(6, [8], 3), 2, device="cpu")
    opt = decoupled_weight_decay(sgd(alpha), lam / m, alpha, {"flat": pop.weight_mask()})
    b = netrx.fit(pop, (X, y), optimizer=opt, epochs=4, batch_size=16, progress=False)
    torch.testing.assert_close(a.population.flat, b.population.flat, rtol=1e-5, atol=1e-6)


def test_decoupled_weight_decay_with_adam_equals_torch_adamw():
    X, y = _data()
    lr, wd = 1e-2, 0.3
    torch.manual_seed(1)
    model = mlp(6, [8], 3)
    pop = Population(model, 1, reinit=False, device="cpu")
    ref = mlp(6, [8], 3)
    ref.load_state_dict(model.state_dict())
    weights = [p for p in ref.parameters() if p.dim() >= 2]
    biases = [p for p in ref.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": weights, "weight_decay": wd},
                             {"params": biases, "weight_decay": 0.0}], lr=lr)
    ours = decoupled_weight_decay(adam(lr), wd, lr, {"flat": pop.weight_mask()})
    netrx.fit(pop, (X, y), optimizer=ours, epochs=5, batch_size=len(y), progress=False)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(ref(Xt), yt).backward()
        opt.step()
    for name, p in ref.named_parameters():
        torch.testing.assert_close(pop.params[name][0].detach(), p.detach(),
                                   rtol=1e-5, atol=1e-6)


def test_l1_value_and_subgradient():
    pop = Population(mlp(6, [5], 3), 2, device="cpu", dtype=torch.float64)
    lam, m = torch.tensor([0.5, 2.0], dtype=torch.float64), 30
    pop.flat_grad.zero_()
    value = l1_penalty(lam, m)(pop.params)
    value.sum().backward()
    for k in range(2):
        ws = [pop.params[n][k].detach().numpy() for n, s in pop.shapes.items() if len(s) >= 2]
        expected = float(lam[k]) / m * sum(np.abs(w).sum() for w in ws)  # λ/m‖w‖₁, not λ/2m
        assert float(value[k].detach()) == pytest.approx(expected, rel=1e-10)
    for name, shape in pop.shapes.items():
        grad = pop.params[name].grad
        if len(shape) >= 2:
            expected = lam.view(2, 1, 1) / m * torch.sign(pop.params[name].detach())
            torch.testing.assert_close(grad, expected)
        else:
            assert torch.count_nonzero(grad) == 0


def test_combine_adds_penalties():
    pop = Population(mlp(6, [5], 3), 2, device="cpu")
    both = combine([l2_penalty(1.0, 10), l1_penalty(0.5, 10)])
    expected = l2_penalty(1.0, 10)(pop.params) + l1_penalty(0.5, 10)(pop.params)
    torch.testing.assert_close(both(pop.params), expected)
    assert combine([]) is None


@pytest.mark.parametrize("make", [l2_penalty, l1_penalty])
def test_bad_strengths_are_refused(make):
    with pytest.raises(ConfigError, match="≥ 0"):
        make(-0.1, 10)
    with pytest.raises(ConfigError, match="≥ 0"):
        make(torch.tensor([0.1, float("nan")]), 10)
    with pytest.raises(ConfigError, match="training examples"):
        make(0.1, 0)
    with pytest.raises(ConfigError, match="≥ 0"):
        decoupled_weight_decay(sgd(0.1), -1.0, 0.1)
