"""netrx optimizers against ``torch.optim`` where the semantics coincide: the same parameter
trajectory (relative 1e-6) on a small regression network, K members with different
hyperparameters against K separate torch optimizers, float64."""

import math

import pytest
import torch

from netrx.optim import (
    adagrad,
    adam,
    adamw,
    apply_updates,
    heavy_ball,
    lbfgs,
    momentum,
    nesterov,
    rmsprop,
    schedules,
    sgd,
)
from netrx.optim.lbfgs import value_and_grad

K, STEPS = 3, 60
DT = torch.float64


def _problem():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(32, 5, generator=g, dtype=DT)
    y = torch.randn(32, 1, generator=g, dtype=DT)
    theta0 = {"W1": torch.randn(K, 5, 8, generator=g, dtype=DT) * 0.5,
              "b1": torch.randn(K, 8, generator=g, dtype=DT) * 0.1,
              "W2": torch.randn(K, 8, 1, generator=g, dtype=DT) * 0.5}
    return X, y, theta0


def _loss(p, X, y):
    """Per-member MSE of a tanh network; p[name] is [K, ...] (or one member's tensors)."""
    h = torch.tanh(X @ p["W1"] + p["b1"].unsqueeze(-2))
    return ((h @ p["W2"] - y) ** 2).mean(dim=(-2, -1))


def _netrx_path(opt, zero_first=False):
    X, y, theta0 = _problem()
    params = {k: v.clone() for k, v in theta0.items()}
    state = opt.init(params)
    path = []
    for step in range(STEPS):
        leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        grads = torch.autograd.grad(_loss(leaves, X, y).sum(), list(leaves.values()))
        grads = dict(zip(leaves, grads))
        if zero_first and step == 0:
            grads = {k: torch.zeros_like(g) for k, g in grads.items()}
        updates, state = opt.update(grads, state, params)
        apply_updates(params, updates)
        path.append({k: v.clone() for k, v in params.items()})
    return path


def _torch_path(make, k, zero_first=False, scheduler=None):
    X, y, theta0 = _problem()
    params = {n: torch.nn.Parameter(v[k].clone()) for n, v in theta0.items()}
    opt = make(params)
    sched = scheduler(opt) if scheduler else None
    path = []
    for step in range(STEPS):
        opt.zero_grad()
        _loss(params, X, y).backward()
        if zero_first and step == 0:
            for p in params.values():
                p.grad.zero_()
        opt.step()
        if sched is not None:
            sched.step()
        path.append({n: p.detach().clone() for n, p in params.items()})
    return path


def _same(ours, theirs_per_member):
    for step, mine in enumerate(ours):
        for k, theirs in enumerate(theirs_per_member):
            for n in mine:
                torch.testing.assert_close(mine[n][k], theirs[step][n], rtol=1e-6, atol=1e-9,
                                           msg=f"member {k}, {n}, step {step + 1}")


LR = [0.05, 0.2, 0.01]
BETA = [0.9, 0.5, 0.99]


def _t(values):
    return torch.tensor(values, dtype=DT)


def test_sgd():
    _same(_netrx_path(sgd(_t(LR))),
          [_torch_path(lambda p, k=k: torch.optim.SGD(p.values(), lr=LR[k]), k)
           for k in range(K)])


def test_heavy_ball_is_torch_sgd_momentum():
    _same(_netrx_path(heavy_ball(_t(LR), _t(BETA))),
          [_torch_path(lambda p, k=k: torch.optim.SGD(p.values(), lr=LR[k], momentum=BETA[k]), k)
           for k in range(K)])


def test_notes_momentum_is_torch_sgd_with_dampening_beta():
    """v = βv + (1 − β)g is SGD(momentum=β, dampening=β); torch starts its buffer at the
    first gradient rather than 0, so both start with a zero gradient (then the buffers are
    equal, 0, and stay equal)."""
    _same(_netrx_path(momentum(_t(LR), _t(BETA)), zero_first=True),
          [_torch_path(lambda p, k=k: torch.optim.SGD(p.values(), lr=LR[k], momentum=BETA[k],
                                                      dampening=BETA[k]), k, zero_first=True)
           for k in range(K)])


def test_nesterov():
    _same(_netrx_path(nesterov(_t(LR), _t(BETA))),
          [_torch_path(lambda p, k=k: torch.optim.SGD(p.values(), lr=LR[k], momentum=BETA[k],
                                                      nesterov=True), k) for k in range(K)])


def test_adagrad():
    eps = [1e-10, 1e-6, 1e-3]
    _same(_netrx_path(adagrad(_t(LR), _t(eps))),
          [_torch_path(lambda p, k=k: torch.optim.Adagrad(p.values(), lr=LR[k], eps=eps[k]), k)
           for k in range(K)])


def test_rmsprop_alpha_is_beta():
    _same(_netrx_path(rmsprop(_t(LR), _t(BETA), 1e-8)),
          [_torch_path(lambda p, k=k: torch.optim.RMSprop(p.values(), lr=LR[k], alpha=BETA[k],
                                                          eps=1e-8), k) for k in range(K)])


def test_adam():
    lr, b2 = [1e-3, 1e-2, 3e-2], [0.999, 0.99, 0.9]
    _same(_netrx_path(adam(_t(lr), _t(BETA), _t(b2))),
          [_torch_path(lambda p, k=k: torch.optim.Adam(p.values(), lr=lr[k],
                                                       betas=(BETA[k], b2[k])), k)
           for k in range(K)])


def test_adamw_with_a_weights_only_mask():
    lr, wd = [1e-2, 3e-2, 1e-3], [0.1, 1.0, 0.0]
    mask = {"W1": torch.ones(1, 1, 1, dtype=DT), "b1": torch.zeros(1, 1, dtype=DT),
            "W2": torch.ones(1, 1, 1, dtype=DT)}

    def make(p, k):
        return torch.optim.AdamW([{"params": [p["W1"], p["W2"]], "weight_decay": wd[k]},
                                  {"params": [p["b1"]], "weight_decay": 0.0}], lr=lr[k])

    _same(_netrx_path(adamw(_t(lr), weight_decay=_t(wd), mask=mask)),
          [_torch_path(lambda p, k=k: make(p, k), k) for k in range(K)])


def test_exponential_schedule_matches_torch_lambda_lr():
    """α(t) = α0·e^(−k·t) per step (t = 1 at the first update) against LambdaLR."""
    ks = [0.01, 0.05, 0.0]
    sched = schedules.exponential(_t(LR), k=_t(ks), per="step")
    _same(_netrx_path(sgd(sched)),
          [_torch_path(lambda p, k=k: torch.optim.SGD(p.values(), lr=LR[k]), k,
                       scheduler=lambda o, k=k: torch.optim.lr_scheduler.LambdaLR(
                           o, lambda e, k=k: math.exp(-ks[k] * (e + 1))))
           for k in range(K)])


def test_lbfgs_without_line_search_matches_torch_lbfgs():
    """A convex problem (L2-regularised logistic regression, badly scaled features so that
    the steps stay large), K = 2 members on different data and step scales;
    torch.optim.LBFGS stepped one iteration at a time. (Near a minimum the two differ in one
    safeguard: torch stores a pair when yᵀs > 1e-10, netrx when yᵀs > 1e-10·‖s‖‖y‖.)"""
    g = torch.Generator().manual_seed(3)
    D = 12
    X = torch.randn(2, 80, D, generator=g, dtype=DT) * torch.logspace(-1, 1, D, dtype=DT)
    y = (torch.rand(2, 80, generator=g, dtype=DT) < 0.5).to(DT)
    lrs = [1.0, 0.5]

    def f(w):  # w [K, 6]
        z = torch.einsum("knd,kd->kn", X, w)
        return torch.nn.functional.softplus(z).mean(1) - (y * z).mean(1) + 0.01 * (w ** 2).sum(1)

    opt = lbfgs(lr=_t(lrs), history=4, line_search=None, tolerance_grad=0.0,
                tolerance_change=0.0)
    fun = value_and_grad(f)
    x = torch.zeros(2, D, dtype=DT)
    state = opt.init(fun, x)
    ours = []
    for _ in range(20):
        state = opt.step(fun, x, state)
        ours.append(x.clone())
    for k in range(2):
        w = torch.zeros(D, dtype=DT, requires_grad=True)
        ref = torch.optim.LBFGS([w], lr=lrs[k], max_iter=1, history_size=4,
                                tolerance_grad=0.0, tolerance_change=0.0)

        def closure(k=k, w=w, ref=ref):
            ref.zero_grad()
            z = X[k] @ w
            loss = torch.nn.functional.softplus(z).mean() - (y[k] * z).mean() \
                + 0.01 * (w ** 2).sum()
            loss.backward()
            return loss

        for step in range(20):
            ref.step(closure)
            torch.testing.assert_close(ours[step][k], w.detach(), rtol=1e-6, atol=1e-10,
                                       msg=f"member {k}, iteration {step + 1}")


@pytest.mark.parametrize("line_search", ["armijo"])
def test_lbfgs_reaches_the_minimiser_of_torch_strong_wolfe(line_search):
    g = torch.Generator().manual_seed(4)
    X = torch.randn(100, 5, generator=g, dtype=DT)
    y = (X @ torch.randn(5, generator=g, dtype=DT) > 0).to(DT)

    def f(w):
        z = X @ w
        return torch.nn.functional.softplus(z).mean() - (y * z).mean() + 0.05 * (w ** 2).sum()

    from netrx.optim import minimize

    ours = minimize(f, torch.zeros(5, dtype=DT), line_search=line_search, max_iter=100,
                    tolerance_grad=1e-12, tolerance_change=1e-15)
    w = torch.zeros(5, dtype=DT, requires_grad=True)
    ref = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-12, tolerance_change=1e-15)

    def closure():
        ref.zero_grad()
        loss = f(w)
        loss.backward()
        return loss

    ref.step(closure)
    torch.testing.assert_close(ours.x, w.detach(), rtol=1e-6, atol=1e-9)
    assert bool(ours.converged.all())
