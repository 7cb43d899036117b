"""Label smoothing: cross-entropy against (1 − ε)·onehot + ε/C, per member."""

import numpy as np
import pytest
import torch

import netrx
from netrx.errors import ConfigError
from netrx.nn import mlp
from netrx.optim import sgd
from netrx.train.losses import LOSSES, smoothed_cross_entropy, with_label_smoothing


def _numpy_smoothed_ce(z, y, eps):
    """The notes' L = −Σ_j t_j log ŷ_j with ŷ = softmax(z), t = (1 − ε)·onehot(y) + ε/C."""
    C = z.shape[-1]
    e = np.exp(z - z.max(-1, keepdims=True))
    yhat = e / e.sum(-1, keepdims=True)
    t = (1 - eps) * np.eye(C)[y] + eps / C
    return -(t * np.log(yhat)).sum(-1).mean()


def test_matches_numpy_per_member():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 20, 5)) * 3
    y = rng.integers(0, 5, size=(3, 20))
    eps = [0.0, 0.1, 0.4]
    got = smoothed_cross_entropy(torch.tensor(z), torch.tensor(y),
                                 torch.tensor(eps, dtype=torch.float64))
    for k in range(3):
        assert float(got[k]) == pytest.approx(_numpy_smoothed_ce(z[k], y[k], eps[k]), rel=1e-10)
    plain = LOSSES["cross_entropy"].loss(torch.tensor(z), torch.tensor(y))
    assert float(got[0]) == pytest.approx(float(plain[0]), rel=1e-10)  # ε = 0: plain CE
    assert float(smoothed_cross_entropy(torch.tensor(z), torch.tensor(y), 0.4)[2]) == \
        pytest.approx(float(got[2]), rel=1e-12)


def test_gradient_is_softmax_minus_smoothed_target():
    z = torch.randn(1, 4, 6, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[0, 5, 2, 2]])
    smoothed_cross_entropy(z, y, 0.2).sum().backward()
    t = 0.8 * torch.nn.functional.one_hot(y, 6).double() + 0.2 / 6
    torch.testing.assert_close(z.grad, (torch.softmax(z, -1) - t).detach() / 4)


def test_training_uses_smoothing_and_dev_loss_stays_plain():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 5)).astype(np.float32)
    y = X[:, :3].argmax(1).astype(np.int64)
    obj = with_label_smoothing(LOSSES["cross_entropy"], torch.tensor([0.0, 0.3]))
    h = netrx.fit(mlp(5, [16], 3), (X, y), (X, y), loss=obj, optimizer=sgd(0.5), epochs=15,
                  batch_size=30, members=2, seed=[0, 0], progress=False)
    pop = h.population
    out = pop.predict(torch.as_tensor(X))
    p_max = torch.softmax(out, -1).max(-1).values.mean(1)
    assert float(p_max[1]) < float(p_max[0])  # smoothing keeps predictions less confident
    dev_loss, _ = netrx.train.evaluate(pop, torch.as_tensor(X), torch.as_tensor(y),
                                       LOSSES["cross_entropy"])
    np.testing.assert_allclose(h.metric("dev_loss")[-1], dev_loss.numpy(), rtol=1e-5)


def test_bad_smoothing():
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        with_label_smoothing(LOSSES["cross_entropy"], 1.0)
    with pytest.raises(ConfigError, match="cross_entropy"):
        with_label_smoothing(LOSSES["mse"], 0.1)
