"""fit(): histories, divergence, early stopping, checkpoints and resume, bad input."""

import numpy as np
import pytest
import torch

import netrx
from netrx.errors import ConfigError, DataError, DivergedError
from netrx.nn import mlp
from netrx.optim import adam, sgd
from netrx.train import Checkpoint, EarlyStopping


def _data(n=200, d=8, c=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, :c].argmax(1)).astype(np.int64)
    return X, y


def test_history_has_every_metric_for_every_member():
    X, y = _data()
    h = netrx.fit(mlp(8, [16], 3), (X, y), (X[:40], y[:40]), epochs=4, members=3,
                  progress=False, lr=1e-3)
    for m in ("train_loss", "train_error", "dev_loss", "dev_error"):
        assert h.metric(m).shape == (4, 3)
        assert np.isfinite(h.metric(m)).all()
    assert h.metric("train_loss")[-1].mean() < h.metric("train_loss")[0].mean()
    rows = h.rows()
    assert len(rows) == 12 and rows[0]["lr"] == pytest.approx(1e-3)


def test_diverged_member_is_frozen_and_others_go_on():
    X, y = _data()
    X[:, 0] *= 1e3
    lr = torch.tensor([1e-3, 1e6])
    h = netrx.fit(mlp(8, [16], 3), (X, y), (X[:40], y[:40]), optimizer=sgd(lr), epochs=3,
                  members=2, progress=False)
    assert h.final_status() == ["done", "diverged"]  # member 0 ran every epoch
    assert np.isnan(h.metric("dev_error")[-1, 1])
    assert np.isfinite(h.metric("dev_error")[-1, 0])
    assert h.best_member() == 0


def test_all_members_diverged_raises():
    X, y = _data()
    X *= 1e4
    with pytest.raises(DivergedError, match="lower the learning rate"):
        netrx.fit(mlp(8, [16], 3), (X, y), optimizer=sgd(1e8), epochs=2, members=2,
                  progress=False)


def test_early_stopping_freezes_a_member_while_the_other_trains():
    X, y = _data()
    es = EarlyStopping(patience=0, monitor="dev_loss", min_delta=1e-4, restore_best=False)
    # member 1 has a negligible lr: its dev loss stops improving after the first epoch
    h = netrx.fit(mlp(8, [16], 3), (X, y), (X[:40], y[:40]), optimizer=sgd(torch.tensor(
        [0.05, 1e-9])), epochs=5, members=2, callbacks=[es], progress=False)
    frozen = h.population.flat[1].clone()
    status = [log.status for log in h.logs]
    assert status[-1][1] == "stopped"
    assert status[-1][0] == "training"
    assert torch.equal(h.population.flat[1], frozen)


def test_early_stopping_restores_best_weights():
    X, y = _data()
    es = EarlyStopping(patience=100, monitor="dev_loss", restore_best=True)
    snapshots = []

    class Snap(netrx.train.Callback):
        def on_epoch_end(self, state, log):
            snapshots.append(state.population.flat.clone())

    h = netrx.fit(mlp(8, [16], 3), (X, y), (X[:40], y[:40]), optimizer=sgd(3.0), epochs=6,
                  members=1, callbacks=[es, Snap()], progress=False)
    best_epoch = int(np.nanargmin(h.metric("dev_loss")[:, 0]))
    torch.testing.assert_close(h.population.flat, snapshots[best_epoch])


def test_checkpoint_resume_gives_the_same_result(tmp_path):
    X, y = _data()
    full = netrx.fit(mlp(8, [16], 3, dropout=0.2), (X, y), (X[:40], y[:40]), optimizer=adam(1e-2),
                     epochs=6, members=2, progress=False)
    ck = tmp_path / "ck.pt"
    netrx.fit(mlp(8, [16], 3, dropout=0.2), (X, y), (X[:40], y[:40]), optimizer=adam(1e-2),
              epochs=3, members=2, progress=False, callbacks=[Checkpoint(ck)])
    resumed = netrx.fit(mlp(8, [16], 3, dropout=0.2), (X, y), (X[:40], y[:40]),
                        optimizer=adam(1e-2), epochs=6, members=2, progress=False, resume=ck)
    torch.testing.assert_close(resumed.population.flat, full.population.flat)
    assert len(resumed.logs) == 6


def test_same_seed_same_numbers():
    X, y = _data()
    a = netrx.fit(mlp(8, [16], 3, dropout=0.3), (X, y), epochs=2, members=2, progress=False)
    b = netrx.fit(mlp(8, [16], 3, dropout=0.3), (X, y), epochs=2, members=2, progress=False)
    torch.testing.assert_close(a.population.flat, b.population.flat, rtol=0, atol=0)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"batch_size": 0}, ConfigError, "batch_size"),
    ({"epochs": -1}, ConfigError, "epochs"),
    ({"loss": "hinge"}, ConfigError, "unknown loss"),
])
def test_bad_arguments(kwargs, error, match):
    X, y = _data()
    with pytest.raises(error, match=match):
        netrx.fit(mlp(8, [4], 3), (X, y), progress=False, **kwargs)


def test_bad_data():
    X, y = _data()
    with pytest.raises(DataError, match="rows"):
        netrx.fit(mlp(8, [4], 3), (X, y[:-1]), progress=False)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        netrx.fit(mlp(8, [4], 3), (Xn, y), progress=False)
    with pytest.raises(ConfigError, match="output"):
        netrx.fit(mlp(8, [4], 5), (X, y), progress=False)


def test_regression_and_binary_losses():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    t = (X @ np.arange(1, 6)).astype(np.float32)
    h = netrx.fit(mlp(5, [16], 1), (X, t), (X, t), epochs=40, batch_size=32, progress=False,
                  optimizer=adam(1e-2))
    assert h.metric("dev_error")[-1, 0] < 0.2 * h.metric("dev_error")[0, 0]
    yb = (X[:, 0] > 0).astype(np.int64)
    h = netrx.fit(mlp(5, [8], 1), (X, yb), (X, yb), loss="bce", epochs=30, batch_size=32,
                  progress=False,
                  optimizer=adam(1e-2))
    assert h.metric("dev_error")[-1, 0] < 0.1


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"))])
def test_resume_with_early_stopping_on_the_device_gives_the_same_result(tmp_path, device):
    """A checkpoint is read onto the CPU: early stopping's best weights and every device's
    RNG state must come back to the population's device for the resumed run to match."""
    X, y = _data()

    def run(epochs, **kwargs):
        es = EarlyStopping(patience=20, monitor="dev_loss")
        h = netrx.fit(mlp(8, [16], 3, dropout=0.2), (X, y), (X[:40], y[:40]),
                      optimizer=adam(1e-2), epochs=epochs, members=2, progress=False,
                      device=device, callbacks=[es, *kwargs.pop("callbacks", [])], **kwargs)
        return h, es

    full, _ = run(6)
    ck = tmp_path / "ck.pt"
    run(3, callbacks=[Checkpoint(ck)])
    resumed, es = run(6, resume=ck)
    assert all(v.device == resumed.population.flat.device for v in es._best_state.values())
    torch.testing.assert_close(resumed.population.flat, full.population.flat)
    assert "cuda_rng" in torch.load(ck, weights_only=True)


def test_the_progress_bar_keeps_bar_epoch_and_time_left_at_80_columns():
    from rich.console import Console

    from netrx.train.progress import ProgressBar

    console = Console(width=80, record=True, force_terminal=True)
    X, y = _data()
    netrx.fit(mlp(8, [16], 3), (X, y), (X[:40], y[:40]), epochs=3, members=4, progress=False,
              callbacks=[ProgressBar(console=console)])
    last = console.export_text().rstrip().split("training ")[-1]  # the final refresh
    assert "3/3 epochs" in last and "━" in last and "train loss" in last
    assert len("training " + last) <= 80 and last.endswith("…")
