"""fit restores what it changes: importing netrx installs no warning filter, and the
caller's flush-denormal setting and global RNG are as they were after fit."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from netrx import fit
from netrx.nn import mlp


def _flushing() -> bool:
    return bool((torch.tensor([1e-40]) * 1.0)[0] == 0)


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 6)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def test_importing_netrx_installs_no_warning_filter():
    code = ("import warnings, numpy, pandas, sklearn, torch, pydantic, rich; "  # their own
            "before = list(warnings.filters); import netrx, netrx.experiment, netrx.population; "
            "print(warnings.filters == before)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "True"


@pytest.mark.parametrize("setting", [False, True])
def test_fit_restores_the_flush_denormal_setting(setting):
    torch.set_flush_denormal(setting)
    try:
        fit(mlp(6, [8], 2), _data(), epochs=2, progress=False)
        assert _flushing() is setting
    finally:
        torch.set_flush_denormal(False)


def test_fit_leaves_the_global_rng_where_it_was():
    model = mlp(6, [8], 2, dropout=0.5)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit(model, _data(), epochs=2, progress=False)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam",
                                  "adamw"])
def test_initialising_a_transform_for_float64_leaves_its_float32_state_alone(name):
    """Transforms are pure (optax): init for other params does not rebind what an existing
    state uses (it used to turn [K] hyperparameters into float64 under a float32 state)."""
    from netrx.optim import build_optimizer

    hyper = {"lr": torch.tensor([0.01, 0.02])}
    if name == "adam":
        hyper["b1"] = torch.tensor([0.9, 0.8])
    opt, fresh = build_optimizer(name, **hyper), build_optimizer(name, **hyper)
    params = {"flat": torch.randn(2, 7)}
    state = opt.init(params)
    opt.init({"flat": torch.randn(2, 7, dtype=torch.float64)})
    grads = {"flat": torch.randn(2, 7)}
    ours, _ = opt.update(grads, state, params)
    want, _ = fresh.update(grads, fresh.init(params), params)
    assert ours["flat"].dtype == torch.float32
    torch.testing.assert_close(ours["flat"], want["flat"], rtol=0, atol=0)
