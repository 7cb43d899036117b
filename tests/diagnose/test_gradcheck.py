"""Gradient checking: correct models pass in float64, a wrong backward fails and is
localised, dropout is switched off, the formula and bands are the notes'."""

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from netrx import Population
from netrx.config import parse_config
from netrx.diagnose import (
    GradCheckWarning,
    band,
    gradcheck,
    gradcheck_config,
    relative_difference,
)
from netrx.errors import ConfigError, DataError
from netrx.nn import cnn1d, cnn2d, mlp

M = 50  # the "m" of the test penalties


def l2(params, lam=3.0, m=M):
    """λ/2m Σ‖W‖²_F over rank-≥2 weights, written from the notes (params are [K, ...])."""
    return sum(lam / (2 * m) * (p ** 2).flatten(1).sum(1) for p in params.values()
               if p.dim() >= 3)


def l1(params, lam=2.0, m=M):
    """λ/m Σ|w| over rank-≥2 weights."""
    return sum(lam / m * p.abs().flatten(1).sum(1) for p in params.values() if p.dim() >= 3)


def both(params):
    return l2(params) + l1(params)


def _batch(n=16, d=10, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, classes, (n,), generator=g)


def test_relative_difference_and_bands_are_the_notes():
    a, b = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.5, 2.0])
    expected = np.linalg.norm([0.0, -0.5, 1.0]) / (np.linalg.norm([1, 2, 3]) +
                                                  np.linalg.norm([1, 2.5, 2]))
    assert relative_difference(a, b) == pytest.approx(expected)
    assert relative_difference(torch.zeros(3), torch.zeros(3)) == 0.0
    assert band(9.9e-8) == "great" and band(1e-7) == "fine" and band(9.9e-6) == "fine"
    assert band(1e-5) == "look again" and band(9.9e-4) == "look again"
    assert band(1e-3) == "bug" and band(math.nan) == "bug"


def test_correct_mlp_with_l2_and_l1_passes_and_j_includes_the_penalty():
    model = mlp(10, [8, 8], 3, activation="tanh")
    X, y = _batch()
    result = gradcheck(model, X, y, penalty=both, coords=None)
    assert result.rel_diff < 1e-7 and result.verdict == "great" and not result.is_bug
    assert result.checked == result.n_params == sum(p.numel() for p in model.parameters())
    # the analytic dθ the check used is the gradient of data loss + penalty, in float64
    ref = {n: p.detach().double().requires_grad_() for n, p in model.named_parameters()}
    out = torch.func.functional_call(model.double(), ref, (X.double(),))
    J = nn.functional.cross_entropy(out, y) + both({n: p[None] for n, p in ref.items()})[0]
    assert result.loss == pytest.approx(J.item(), rel=1e-12)
    grads = dict(zip(ref, torch.autograd.grad(J, list(ref.values()))))
    for t in result.tensors:
        np.testing.assert_allclose(t.grad, grads[t.name].reshape(-1)[t.indices].numpy(),
                                   rtol=1e-10, atol=1e-14)
    assert {t.module for t in result.tensors} == {"Linear"}


@pytest.mark.parametrize("family", ["cnn1d", "cnn2d"])
def test_correct_cnn_with_penalties_passes(family):
    g = torch.Generator().manual_seed(1)
    if family == "cnn1d":
        model, X = cnn1d(24, 4, channels=4), torch.randn(8, 24, generator=g)
    else:
        model, X = cnn2d((1, 8, 8), 4, channels=3), torch.randn(8, 1, 8, 8, generator=g)
    y = torch.randint(0, 4, (8,), generator=g)
    result = gradcheck(model, X, y, penalty=both, coords=20)
    assert result.rel_diff < 1e-7, result.summary()
    assert not result.is_bug
    assert all(t.checked == min(20, t.numel) for t in result.tensors)


class _WrongLinearFn(torch.autograd.Function):
    """y = x Wᵀ + b with a deliberately wrong backward: dW is off by a factor 2."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return x @ w.t() + b

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g @ w, 2.0 * g.t() @ x, g.sum(0)


class _WrongInputGradFn(_WrongLinearFn):
    """Also a wrong dx (missing a transpose-like factor): layers before it are corrupted."""

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return 0.5 * g @ w, 2.0 * g.t() @ x, g.sum(0)


class BadLinear(nn.Linear):
    fn = _WrongLinearFn

    def forward(self, x):
        return self.fn.apply(x, self.weight, self.bias)


class BadInputLinear(BadLinear):
    fn = _WrongInputGradFn


def _net(bad: type[nn.Module]) -> nn.Sequential:
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(10, 8), nn.Tanh(), bad(8, 6), nn.Tanh(), nn.Linear(6, 3))


def test_wrong_backward_fails_and_the_report_names_the_layer():
    X, y = _batch()
    result = gradcheck(_net(BadLinear), X, y, penalty=l2, coords=None)
    assert result.is_bug and result.verdict == "bug"
    assert [t.name for t in result.failing] == ["2.weight"]
    assert result.suspect.name == "2.weight" and result.suspect.module == "BadLinear"
    assert "goes wrong at 2.weight (BadLinear" in result.summary()
    by_name = {t.name: t for t in result.tensors}
    assert by_name["0.weight"].rel_diff < 1e-7 and by_name["4.weight"].rel_diff < 1e-7


def test_wrong_input_gradient_corrupts_earlier_layers_but_the_suspect_is_the_bad_one():
    X, y = _batch()
    result = gradcheck(_net(BadInputLinear), X, y, coords=None)
    failing = {t.name for t in result.failing}
    assert {"0.weight", "0.bias", "2.weight"} <= failing and "4.weight" not in failing
    assert result.suspect.label == "2.weight (BadInputLinear)"


def test_dropout_is_switched_off_with_a_warning_naming_it():
    model = mlp(10, [8, 8], 3, dropout=0.5)
    model.train()
    X, y = _batch()
    with pytest.warns(GradCheckWarning, match="Dropout"):
        result = gradcheck(model, X, y, penalty=l2, coords=None)
    assert result.rel_diff < 1e-7 and not result.is_bug
    assert any("Dropout" in s for s in result.switched_off)
    # the caller's model is untouched: still float32, still in training mode
    assert model.training and next(model.parameters()).dtype == torch.float32


def test_dropconnect_and_input_dropout_from_the_config_are_switched_off():
    cfg = parse_config({"data": {"dataset": "iris"}, "model": {"hidden": [6]},
                        "regularization": {"dropconnect": 0.3, "input_dropout": 0.1}})
    with pytest.warns(GradCheckWarning, match="DropConnect"):
        (result,) = gradcheck_config(cfg, coords=None, batch_size=8)
    assert result.rel_diff < 1e-7
    text = "; ".join(result.switched_off)
    assert "DropConnect" in text and "InputDropout" in text


def test_batch_norm_uses_running_statistics_and_says_so():
    model = mlp(10, [8], 3, batch_norm=True)
    X, y = _batch()
    with pytest.warns(GradCheckWarning, match="running statistics"):
        result = gradcheck(model, X, y, coords=None)
    assert result.rel_diff < 1e-7


def test_coordinate_subset_is_seeded():
    model = mlp(10, [30], 3)
    X, y = _batch()
    a = gradcheck(model, X, y, coords=7, seed=5)
    b = gradcheck(model, X, y, coords=7, seed=5)
    c = gradcheck(model, X, y, coords=7, seed=6)
    w = [t for t in a.tensors if t.name == "1.weight"][0]
    assert w.checked == 7 and w.numel == 300
    assert all(np.array_equal(s.indices, t.indices) for s, t in zip(a.tensors, b.tensors))
    assert not np.array_equal(w.indices, [t for t in c.tensors if t.name == "1.weight"][0].indices)
    # tensors no larger than the budget are checked whole
    bias = [t for t in a.tensors if t.name == "3.bias"][0]
    assert bias.checked == 3


def test_population_member_is_checked_with_its_own_weights_and_penalty():
    X, y = _batch()
    pop = Population(mlp(10, [8], 3), 3, seed=4)
    lam = torch.tensor([0.0, 1.0, 30.0], dtype=torch.float64)

    def member_l2(params):
        return l2(params, lam=lam)

    r2 = gradcheck(pop, X, y, penalty=member_l2, member=2, coords=None)
    assert r2.rel_diff < 1e-7 and r2.member == 2
    single = pop.member_module(2)
    expected = gradcheck(single, X, y, penalty=lambda p: l2(p, lam=30.0), coords=None)
    assert r2.loss == pytest.approx(expected.loss, rel=1e-12)
    r0 = gradcheck(pop, X, y, penalty=member_l2, member=0, coords=None)
    assert r0.loss != pytest.approx(r2.loss)


def test_gradcheck_config_checks_at_init_and_after_training_with_the_config_penalty():
    cfg = parse_config({"data": {"dataset": "iris"}, "model": {"hidden": [6], "dropout": 0.2},
                        "regularization": {"l2": 5.0, "l1": 1.0}, "train": {"epochs": 3}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradCheckWarning)
        first, after = gradcheck_config(cfg, after_epochs=2, coords=None, batch_size=16)
    assert first.label == "at initialisation" and after.label == "after 2 epochs"
    assert not first.is_bug and not after.is_bug and first.rel_diff < 1e-7
    assert any("Dropout" in s for s in first.switched_off)
    # the second check ran on trained weights
    assert any(not np.allclose(a.grad, f.grad) for a, f in zip(after.tensors, first.tensors))
    no_reg = parse_config({**cfg.model_dump(), "regularization": {}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradCheckWarning)
        (plain,) = gradcheck_config(no_reg, coords=1, batch_size=16)
    assert first.loss > plain.loss  # J includes the penalty


def test_bad_arguments_raise():
    X, y = _batch()
    model = mlp(10, [4], 3)
    with pytest.raises(ConfigError, match="eps"):
        gradcheck(model, X, y, eps=0)
    with pytest.raises(ConfigError, match="coords"):
        gradcheck(model, X, y, coords=0)
    with pytest.raises(DataError):
        gradcheck(model, X, y[:3])
    with pytest.raises(ConfigError, match="member"):
        gradcheck(Population(model, 2), X, y, member=5)
