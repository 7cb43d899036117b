"""The TensorBoard callback: per-member scalars read back from the event files."""

import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from netrx.errors import NetrxError
from netrx.nn import mlp
from netrx.optim import adam
from netrx.train import Callback, fit

try:
    import tensorboard  # noqa: F401
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except ImportError:
    EventAccumulator = None

needs_tensorboard = pytest.mark.skipif(
    EventAccumulator is None,
    reason="the tensorboard package is not installed (pip install netrx[tensorboard])")



def _scalars(directory):
    acc = EventAccumulator(str(directory), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


class GradNorms(Callback):
    """Independent record of ‖∇θ‖₂ per member at the end of every epoch."""

    def __init__(self):
        self.norms = []

    def on_epoch_end(self, state, log):
        self.norms.append(state.population.flat_grad.norm(dim=1).double().cpu().numpy())


@needs_tensorboard
def test_per_member_scalars_and_gradient_norms(tmp_path):
    from netrx.train.tensorboard import TensorBoard

    torch.manual_seed(0)
    X = torch.randn(96, 6)
    y = (X[:, 0] + X[:, 1] > 0).long()
    grads = GradNorms()
    history = fit(mlp((6,), [8], 2), (X[:64], y[:64]), (X[64:], y[64:]), members=3,
                  optimizer=adam(0.01), lr=0.01, epochs=3, batch_size=16, seed=0,
                  callbacks=[TensorBoard(tmp_path / "tb"), grads], progress=False)
    scalars = _scalars(tmp_path / "tb")
    for k in range(3):
        for key in ("train_loss", "train_error", "dev_loss", "dev_error", "lr", "grad_norm",
                    "grad_norm/1.weight", "grad_norm/3.bias"):
            assert [s for s, _ in scalars[f"member_{k:02d}/{key}"]] == [1, 2, 3], key
        for metric in ("train_loss", "dev_error"):
            logged = [v for _, v in scalars[f"member_{k:02d}/{metric}"]]
            np.testing.assert_allclose(logged, history.metric(metric)[:, k], rtol=1e-6)
        logged = [v for _, v in scalars[f"member_{k:02d}/grad_norm"]]
        np.testing.assert_allclose(logged, [n[k] for n in grads.norms], rtol=1e-5)
        per_tensor = [scalars[f"member_{k:02d}/grad_norm/{n}"][-1][1]
                      for n in ("1.weight", "1.bias", "3.weight", "3.bias")]
        assert np.sqrt(np.sum(np.square(per_tensor))) == pytest.approx(logged[-1], rel=1e-5)
        assert [v for _, v in scalars[f"member_{k:02d}/lr"]] == pytest.approx([0.01] * 3)


@needs_tensorboard
def test_cli_flag_and_estimator_parameter(tmp_path):
    from netrx import NetClassifier
    from netrx.cli.app import app

    result = CliRunner().invoke(app, ["train", "--dataset", "iris", "--hidden", "8",
                                      "--epochs", "2", "--members", "2", "--quiet",
                                      "--out", str(tmp_path / "runs"), "--name", "tb",
                                      "--tensorboard", str(tmp_path / "tb")])
    assert result.exit_code == 0, result.output
    scalars = _scalars(tmp_path / "tb" / "tb")
    assert len(scalars["member_01/dev_error"]) == 2

    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    NetClassifier(hidden=(4,), epochs=2, tensorboard=str(tmp_path / "sk"),
                  random_state=0).fit(X, y)
    assert len(_scalars(tmp_path / "sk" / "NetClassifier")["member_00/train_loss"]) == 2


def test_missing_package_says_what_to_install(monkeypatch, tmp_path):
    from netrx.train.tensorboard import TensorBoard

    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard fails
    with pytest.raises(NetrxError, match=r"pip install netrx\[tensorboard\]"):
        TensorBoard(tmp_path)
