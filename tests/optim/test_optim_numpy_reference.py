"""Every optimizer against a NumPy transcription of the notes' update rule: 100 steps on
random gradients, K = 3 members with different hyperparameters, two parameter tensors."""

import numpy as np
import pytest
import torch

from netrx.optim import (
    adagrad,
    adam,
    adamw,
    apply_updates,
    heavy_ball,
    momentum,
    nesterov,
    rmsprop,
    sgd,
)

K, STEPS = 3, 100
SHAPES = {"w": (4, 3), "b": (3,)}


def _run_netrx(opt, grads):
    """Feed the same random gradients to the optimizer; returns θ after every step."""
    rng = np.random.default_rng(1)
    theta0 = {k: rng.normal(size=(K, *s)) for k, s in SHAPES.items()}
    params = {k: torch.tensor(v) for k, v in theta0.items()}
    state = opt.init(params)
    path = []
    for g in grads:
        updates, state = opt.update({k: torch.tensor(v) for k, v in g.items()}, state, params)
        apply_updates(params, updates)
        path.append({k: v.numpy().copy() for k, v in params.items()})
    return theta0, path


def _grads(seed=0):
    rng = np.random.default_rng(seed)
    return [{k: rng.normal(size=(K, *s)) * rng.uniform(0.1, 3) for k, s in SHAPES.items()}
            for _ in range(STEPS)]


def _check(opt, reference, hyper_per_member):
    """``reference(theta, grads, **h)`` runs one member in NumPy and returns its path."""
    grads = _grads()
    theta0, path = _run_netrx(opt, grads)
    for k in range(K):
        h = {name: float(v[k]) for name, v in hyper_per_member.items()}
        for name in SHAPES:
            ref = reference(theta0[name][k], [g[name][k] for g in grads], **h)
            got = np.stack([p[name][k] for p in path])
            np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


# -- the notes' formulas, member by member ----------------------------------------------------
def np_sgd(theta, grads, lr):
    out = []
    for g in grads:
        theta = theta - lr * g
        out.append(theta)
    return np.stack(out)


def np_momentum(theta, grads, lr, beta, corrected=False):
    v = np.zeros_like(theta)
    out = []
    for t, dw in enumerate(grads, 1):
        v = beta * v + (1 - beta) * dw  # Vdw := β Vdw + (1 − β) dw
        step = v / (1 - beta ** t) if corrected else v
        theta = theta - lr * step  # w := w − α Vdw
        out.append(theta)
    return np.stack(out)


def np_heavy_ball(theta, grads, lr, rho, nesterov=False):
    v = np.zeros_like(theta)
    out = []
    for g in grads:
        v = rho * v + g
        theta = theta - lr * (g + rho * v if nesterov else v)
        out.append(theta)
    return np.stack(out)


def np_adagrad(theta, grads, lr, eps):
    grad_squared = np.zeros_like(theta)
    out = []
    for dx in grads:
        grad_squared += dx * dx
        theta = theta - lr * dx / (np.sqrt(grad_squared) + eps)
        out.append(theta)
    return np.stack(out)


def np_rmsprop(theta, grads, lr, beta, eps):
    s = np.zeros_like(theta)
    out = []
    for dw in grads:
        s = beta * s + (1 - beta) * dw ** 2  # Sdw := β Sdw + (1 − β) dw²
        theta = theta - lr * dw / (np.sqrt(s) + eps)  # w := w − α dw/(√Sdw + ε)
        out.append(theta)
    return np.stack(out)


def np_adam(theta, grads, lr, b1, b2, eps, wd=0.0, corrected=True):
    v, s = np.zeros_like(theta), np.zeros_like(theta)
    out = []
    for t, dw in enumerate(grads, 1):
        v = b1 * v + (1 - b1) * dw
        s = b2 * s + (1 - b2) * dw ** 2
        vc = v / (1 - b1 ** t) if corrected else v
        sc = s / (1 - b2 ** t) if corrected else s
        theta = theta - lr * (vc / (np.sqrt(sc) + eps) + wd * theta)
        out.append(theta)
    return np.stack(out)


LR = torch.tensor([0.01, 0.05, 0.002], dtype=torch.float64)
BETA = torch.tensor([0.9, 0.5, 0.99], dtype=torch.float64)


def test_sgd():
    _check(sgd(LR), np_sgd, {"lr": LR})


@pytest.mark.parametrize("corrected", [False, True])
def test_momentum_notes_form(corrected):
    _check(momentum(LR, BETA, bias_correction=corrected),
           lambda th, gs, lr, beta: np_momentum(th, gs, lr, beta, corrected),
           {"lr": LR, "beta": BETA})


def test_heavy_ball():
    _check(heavy_ball(LR, BETA), np_heavy_ball, {"lr": LR, "rho": BETA})


def test_nesterov():
    _check(nesterov(LR, BETA), lambda th, gs, lr, rho: np_heavy_ball(th, gs, lr, rho, True),
           {"lr": LR, "rho": BETA})


def test_adagrad():
    eps = torch.tensor([1e-7, 1e-3, 0.1], dtype=torch.float64)
    _check(adagrad(LR, eps), np_adagrad, {"lr": LR, "eps": eps})


def test_rmsprop():
    eps = torch.tensor([1e-8, 1e-4, 1e-2], dtype=torch.float64)
    _check(rmsprop(LR, BETA, eps), np_rmsprop, {"lr": LR, "beta": BETA, "eps": eps})


@pytest.mark.parametrize("corrected", [True, False])
def test_adam(corrected):
    b2 = torch.tensor([0.999, 0.9, 0.99], dtype=torch.float64)
    eps = torch.tensor([1e-8, 1e-4, 1e-6], dtype=torch.float64)
    _check(adam(LR, BETA, b2, eps, bias_correction=corrected),
           lambda th, gs, lr, b1, b2, eps: np_adam(th, gs, lr, b1, b2, eps, corrected=corrected),
           {"lr": LR, "b1": BETA, "b2": b2, "eps": eps})


def test_adamw_decays_every_member_with_its_own_strength():
    wd = torch.tensor([0.0, 0.1, 1.0], dtype=torch.float64)
    _check(adamw(LR, 0.9, 0.999, 1e-8, weight_decay=wd),
           lambda th, gs, lr, wd: np_adam(th, gs, lr, 0.9, 0.999, 1e-8, wd=wd),
           {"lr": LR, "wd": wd})


def test_float_and_tensor_hyperparameters_agree():
    grads = _grads(3)
    _, a = _run_netrx(adam(0.01, 0.8, 0.99, 1e-6), grads)
    _, b = _run_netrx(adam(torch.full((K,), 0.01, dtype=torch.float64),
                           torch.full((K,), 0.8, dtype=torch.float64),
                           torch.full((K,), 0.99, dtype=torch.float64),
                           torch.full((K,), 1e-6, dtype=torch.float64)), grads)
    np.testing.assert_allclose(a[-1]["w"], b[-1]["w"], rtol=1e-12)


def test_momentum_is_heavy_ball_with_a_smaller_step():
    """Notes' momentum with α and heavy ball with α(1 − β) follow the same path."""
    grads = _grads(4)
    _, notes = _run_netrx(momentum(LR, BETA), grads)
    _, hb = _run_netrx(heavy_ball(LR * (1 - BETA), BETA), grads)
    for p, q in zip(notes, hb):
        np.testing.assert_allclose(p["w"], q["w"], rtol=1e-9)
