"""L-BFGS: exact minimisers, Armijo steps, independent members, and the full-batch driver."""

import numpy as np
import pytest
import torch

import netrx
from netrx.errors import ConfigError
from netrx.nn import mlp
from netrx.optim import lbfgs, minimize
from netrx.optim.lbfgs import value_and_grad
from netrx.train import EarlyStopping
from netrx.train.full_batch import fit_full_batch

DT = torch.float64


def test_quadratic_minimiser_is_the_solution_of_the_linear_system():
    g = torch.Generator().manual_seed(0)
    M = torch.randn(6, 6, generator=g, dtype=DT)
    A = M @ M.T + 0.5 * torch.eye(6, dtype=DT)
    b = torch.randn(6, generator=g, dtype=DT)
    res = minimize(lambda x: 0.5 * x @ A @ x - b @ x, torch.zeros(6, dtype=DT), history=10,
                   tolerance_grad=1e-8, tolerance_change=0.0, max_iter=50)
    assert bool(res.converged) and int(res.iterations) < 30
    torch.testing.assert_close(res.x, torch.linalg.solve(A, b), rtol=1e-7, atol=1e-9)


def test_rosenbrock_converges_with_armijo_steps():
    def f(p):
        return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2

    res = minimize(f, torch.tensor([-1.2, 1.0], dtype=DT), max_iter=200, record=True,
                   tolerance_grad=1e-10, tolerance_change=1e-14)
    torch.testing.assert_close(res.x, torch.ones(2, dtype=DT), rtol=0, atol=1e-6)
    values = torch.stack([f(p) for p in res.path])
    assert bool((values[1:] <= values[:-1]).all())  # Armijo: every accepted step decreases f


def test_every_accepted_step_satisfies_the_armijo_condition():
    opt = lbfgs(c1=0.3)  # a demanding c1 forces backtracking

    def f(x):
        return (x ** 4).sum(1) + (x[:, :1] * x[:, 1:]).sum(1)

    fun = value_and_grad(f)
    x = torch.tensor([[2.0, -1.5], [0.5, 3.0]], dtype=DT)
    state = opt.init(fun, x)
    for _ in range(10):
        before_x, before_f, before_g = x.clone(), state.f.clone(), state.g.clone()
        d = opt.direction(state)
        state = opt.step(fun, x, state)
        s = x - before_x
        moved = s.abs().sum(1) > 0
        # f(x + t·d) ≤ f(x) + c1·t·∇fᵀd with s = t·d
        bound = before_f + 0.3 * (before_g * s).sum(1)
        assert bool((state.f[moved] <= bound[moved] + 1e-12).all())
        assert bool(((before_g * d).sum(1)[moved] < 0).all())  # descent directions


def test_members_are_independent_problems():
    g = torch.Generator().manual_seed(1)
    A = torch.randn(3, 4, 4, generator=g, dtype=DT)
    A = A @ A.transpose(1, 2) + torch.eye(4, dtype=DT)
    b = torch.randn(3, 4, generator=g, dtype=DT)

    def f(x):
        return 0.5 * torch.einsum("ki,kij,kj->k", x, A, x) - (b * x).sum(1) + (x ** 4).sum(1)

    together = minimize(f, torch.zeros(3, 4, dtype=DT), max_iter=30, record=True)
    for k in range(3):
        def fk(x, k=k):
            return 0.5 * x @ A[k] @ x - b[k] @ x + (x ** 4).sum()

        alone = minimize(fk, torch.zeros(4, dtype=DT), max_iter=30, record=True)
        n = min(len(alone.path), len(together.path))
        for i in range(n):
            torch.testing.assert_close(together.path[i][k], alone.path[i], rtol=1e-10,
                                       atol=1e-12)


def _blobs(n=150, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 4)).astype(np.float32) + np.eye(3, 4)[y].astype(np.float32) * 2
    return X, y.astype(np.int64)


def test_full_batch_driver_trains_a_population_and_logs_each_iteration():
    X, y = _blobs()
    pop = netrx.Population(mlp(4, [8], 3), 2, seed=0, dtype=DT)
    h = fit_full_batch(pop, (X, y), (X[:30], y[:30]), optimizer=lbfgs(), epochs=25,
                       progress=False, lr=1.0)
    loss = h.metric("train_loss")
    assert loss.shape[1] == 2 and np.isfinite(loss).all()
    assert (loss[-1] < 0.5 * loss[0]).all()
    assert (np.diff(loss, axis=0) <= 1e-12).all()  # line search: the loss never goes up
    assert h.metric("train_error")[-1].max() < 0.2


def test_full_batch_population_equals_separate_runs():
    X, y = _blobs(seed=2)
    pop = netrx.Population(mlp(4, [6], 3), 2, seed=5, dtype=DT)
    fit_full_batch(pop, (X, y), optimizer=lbfgs(history=5), epochs=8, progress=False)
    for k in range(2):
        single = netrx.Population(mlp(4, [6], 3), 1, seed=5 + k, dtype=DT)
        fit_full_batch(single, (X, y), optimizer=lbfgs(history=5), epochs=8, progress=False)
        torch.testing.assert_close(pop.flat[k], single.flat[0], rtol=1e-7, atol=1e-9)


def test_full_batch_refuses_a_random_loss():
    X, y = _blobs()
    pop = netrx.Population(mlp(4, [8], 3, dropout=0.5), 1, seed=0)
    with pytest.raises(ConfigError, match="dropout"):
        fit_full_batch(pop, (X, y), optimizer=lbfgs(), epochs=2, progress=False)


def test_full_batch_respects_early_stopping():
    X, y = _blobs()
    pop = netrx.Population(mlp(4, [8], 3), 2, seed=0)
    es = EarlyStopping(patience=0, monitor="dev_loss", min_delta=10.0, restore_best=False)
    h = fit_full_batch(pop, (X, y), (X[:30], y[:30]), optimizer=lbfgs(), epochs=10,
                       callbacks=[es], progress=False)
    assert len(h.logs) <= 2
    assert h.final_status() == ["stopped", "stopped"]


def _cli(tmp_path, *args):
    from typer.testing import CliRunner

    from netrx.cli.app import app

    return CliRunner().invoke(app, ["train", "--dataset", "iris", "-q", "--out", str(tmp_path),
                                    "--name", "l", "--optimizer", "lbfgs", *args])


def test_cli_trains_with_lbfgs_full_batch(tmp_path):
    import pandas as pd

    res = _cli(tmp_path, "--epochs", "15", "--members", "2")
    assert res.exit_code == 0, res.output
    h = pd.read_csv(tmp_path / "l" / "history.csv")
    assert set(h.member) == {0, 1} and h.epoch.max() <= 15
    assert (h.lr == 1.0).all()  # lr defaults to the quasi-Newton step for lbfgs
    last = h[h.epoch == h.epoch.max()]
    assert (last.train_error < 0.1).all()


@pytest.mark.parametrize("args, match", [
    (["--schedule", "cosine", "--schedule-param", "total=3"], "no learning-rate schedule"),
    (["--dropout", "0.3"], "dropout"),
])
def test_cli_lbfgs_refusals(tmp_path, args, match):
    res = _cli(tmp_path, "--epochs", "2", *args)
    assert res.exit_code == 2 and match in res.output, res.output
