"""``train.compile`` (``--compile``): the step's forward pass and loss through torch.compile
give the eager step's numbers — member by member, with every stochastic regularizer drawing
from the members' streams — and L-BFGS, which has no mini-batch step, is refused."""

import pytest
import torch

from netrx.config import parse_config
from netrx.errors import ConfigError
from netrx.experiment import prepare
from netrx.experiment.assemble import train
from netrx.population import streams
from netrx.population.streams import MemberStreams, drawing
from netrx.train.loop import compiled_loss

pytestmark = pytest.mark.slow  # each compiled fit spends ~10 s in the compiler


def _fit(compile: bool, **sections):
    cfg = parse_config({"data": {"dataset": "wine"}, "members": 3, "seed": 4, "device": "cpu",
                        "train": {"epochs": 3, "batch_size": 32, "compile": compile},
                        **sections})
    pieces, history = train(cfg, prepare(cfg))
    return pieces.population, history


@pytest.mark.parametrize("sections", [
    {"model": {"hidden": [32, 32], "dropout": 0.3}},
    {"model": {"hidden": [32]}, "regularization": {"dropconnect": 0.2, "input_dropout": 0.1,
                                                    "l2": 0.01}},
], ids=["dropout", "dropconnect-input-dropout-l2"])
def test_compiled_step_gives_the_eager_numbers(sections):
    torch._dynamo.reset()
    eager, h_eager = _fit(False, **sections)
    compiled, h_compiled = _fit(True, **sections)
    torch.testing.assert_close(compiled.flat, eager.flat, rtol=1e-4, atol=1e-5)
    for a, b in zip(h_compiled.logs, h_eager.logs, strict=True):
        torch.testing.assert_close(torch.as_tensor(a.train_loss), torch.as_tensor(b.train_loss),
                                   rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(torch.as_tensor(a.dev_error), torch.as_tensor(b.dev_error))
    # the members drew different masks: a population is not K copies of one run
    assert not torch.allclose(eager.flat[0], eager.flat[1])


@pytest.mark.parametrize("shape", [(3, 7, 3), (3, 10, 13), (3, 128, 40)])
def test_compiled_draws_are_the_eager_draws(shape):
    """Shapes whose size is no multiple of a SIMD width: the case torch's vectorized int64
    code gets wrong (see compiled_loss)."""
    torch._dynamo.reset()
    s = MemberStreams([4, 5, 6], "cpu")

    def draws(x, key):
        with drawing(key):
            return (streams.uniform_like(x, 9), streams.normal_like(x, 10),
                    streams.bernoulli_like(x, 0.3, 11))

    compiled = compiled_loss(draws, torch.device("cpu"))
    x = torch.zeros(shape)
    for _ in range(3):
        for got, want in zip(compiled(x, s.key()), draws(x, s.key()), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
        s.advance()


def test_compile_with_lbfgs_is_refused():
    with pytest.raises(ConfigError, match="L-BFGS"):
        _fit(True, optimizer={"name": "lbfgs", "lr": 1.0})


def test_every_fit_compiles_its_own_step():
    """dynamo caches graphs per code object: fits sharing one would hit torch's recompile
    limit (8) and run the ninth fit eager, silently."""
    import numpy as np
    from torch import nn
    from torch._dynamo.utils import counters

    from netrx.train.loop import fit

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)).astype("float32")
    y = (X[:, 0] > 0).astype("int64")
    torch._dynamo.reset()
    graphs = []
    for _ in range(10):
        fit(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2)), (X, y), members=2,
            epochs=1, batch_size=128, progress=False, device="cpu", compile=True)
        graphs.append(counters["stats"]["unique_graphs"])
    assert graphs[-1] > graphs[-2] > graphs[0]
