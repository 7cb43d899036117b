"""Learning-rate schedules against their closed forms, per-member broadcasting, the registry,
and the config / CLI wiring (history.csv logs the rate each member used)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from netrx.cli.app import app
from netrx.config import parse_config
from netrx.errors import ConfigError
from netrx.optim import schedules

T = np.arange(1, 501)  # update index t, 1-based
SPE = 7  # steps per epoch



def _epoch(t):
    return (t - 1) // SPE + 1


def _eval(s, t=T):
    return s(torch.tensor(t, dtype=torch.float64)).numpy()


CASES = [
    (schedules.constant(0.3), lambda t: np.full(t.shape, 0.3)),
    (schedules.inverse_time(0.2, 1.0, steps_per_epoch=SPE), lambda t: 0.2 / (1 + _epoch(t))),
    (schedules.inverse_time(0.5, 0.01, per="step"), lambda t: 0.5 / (1 + 0.01 * t)),
    (schedules.exponential(0.1, 0.95, steps_per_epoch=SPE), lambda t: 0.95 ** _epoch(t) * 0.1),
    (schedules.exponential(0.1, k=0.003, per="step"), lambda t: 0.1 * np.exp(-0.003 * t)),
    (schedules.inverse_sqrt(0.1, 0.8, steps_per_epoch=SPE), lambda t: 0.8 / np.sqrt(_epoch(t))
     * 0.1),
    (schedules.inverse_sqrt(0.1, 2.0, per="step"), lambda t: 2.0 / np.sqrt(t) * 0.1),
    (schedules.step(0.1, every=3, gamma=0.5, steps_per_epoch=SPE),
     lambda t: 0.1 * 0.5 ** ((_epoch(t) - 1) // 3)),
    (schedules.cosine(0.1, total=300, lr_min=0.001),
     lambda t: 0.001 + 0.099 * 0.5 * (1 + np.cos(np.pi * np.minimum(t - 1, 300) / 300))),
    (schedules.linear_warmup(0.1, 50), lambda t: 0.1 * np.minimum(1, t / 50)),
]


@pytest.mark.parametrize("schedule, closed_form", CASES, ids=lambda c: getattr(c, "name", ""))
def test_closed_forms(schedule, closed_form):
    np.testing.assert_allclose(_eval(schedule), closed_form(T), rtol=1e-12)


def test_the_notes_worked_example_of_inverse_time_decay():
    """α0 = 0.2, decay_rate = 1: epochs 1..4 give 0.1, 0.067, 0.05, 0.04."""
    s = schedules.inverse_time(0.2, 1.0, steps_per_epoch=1)
    np.testing.assert_allclose(_eval(s, np.arange(1, 5)), [0.1, 0.2 / 3, 0.05, 0.04])


def test_per_member_constants_broadcast_against_steps():
    lr = torch.tensor([0.1, 0.01, 1.0], dtype=torch.float64)
    k = torch.tensor([0.0, 0.5, 2.0], dtype=torch.float64)
    s = schedules.inverse_time(lr, k, per="step")
    table = s(torch.arange(1, 101, dtype=torch.float64).unsqueeze(1))  # [T, 1] against [K]
    assert table.shape == (100, 3)
    for m in range(3):
        np.testing.assert_allclose(table[:, m].numpy(),
                                   float(lr[m]) / (1 + float(k[m]) * np.arange(1, 101)))
    # one step count per member
    torch.testing.assert_close(s(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)),
                               lr / (1 + k * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)))
    gammas = schedules.exponential(0.1, torch.tensor([0.9, 0.5], dtype=torch.float64),
                                   per="step")
    torch.testing.assert_close(gammas(3), 0.1 * torch.tensor([0.9, 0.5], dtype=torch.float64) ** 3)


def test_join_warmup_then_cosine():
    s = schedules.join([schedules.linear_warmup(0.1, 5, per="epoch"),
                        schedules.cosine(0.1, 20, per="epoch")], [5], per="epoch",
                       steps_per_epoch=SPE)
    e = _epoch(T)
    expected = np.where(e <= 5, 0.1 * np.minimum(1, e / 5),
                        0.05 * (1 + np.cos(np.pi * np.minimum(e - 6, 20) / 20)))
    np.testing.assert_allclose(_eval(s), expected, rtol=1e-12)


def test_epoch_schedules_need_steps_per_epoch():
    with pytest.raises(ConfigError, match="steps_per_epoch"):
        schedules.inverse_time(0.1, 1.0)(5)


@pytest.mark.parametrize("spec, match", [
    ({"name": "cosin", "total": 10}, "did you mean 'cosine'.*constant, cosine"),
    ({"total": 10}, "needs a name"),
    ({"name": "cosine"}, "needs total"),
    ({"name": "cosine", "totl": 10}, "no parameter 'totl' .*did you mean 'total'"),
    ({"name": "inverse_time", "decay_rate": -1}, "decay_rate=-1.0 is outside"),
    ({"name": "inverse_time", "decay_rate": "fast"}, "must be a number"),
    ({"name": "exponential", "gamma": 1.5}, r"gamma=1.5 is outside \(0.0, 1.0\]"),
    ({"name": "exponential"}, "exactly one of gamma"),
    ({"name": "step", "every": 0}, "every=0"),
    ({"name": "cosine", "total": 10, "per": "batch"}, "unknown schedule unit"),
    ({"name": "cosine", "total": 10, "lr": 0.1}, "optimizer.lr"),
    ({"name": "join", "schedules": [{"name": "constant"}], "boundaries": [3]},
     "needs 0 boundaries"),
])
def test_bad_specs_raise_config_errors_with_the_fix(spec, match):
    with pytest.raises(ConfigError, match=match):
        schedules.build_schedule(spec, lr=0.1, steps_per_epoch=SPE)


def test_build_from_spec_with_per_member_lists_and_join():
    s = schedules.build_schedule({"name": "inverse_time", "decay_rate": [0.0, 1.0]},
                                 lr=torch.tensor([0.1, 0.2]), steps_per_epoch=2)
    torch.testing.assert_close(s(3).float(), torch.tensor([0.1, 0.2 / 3]))
    j = schedules.build_schedule(
        {"name": "join", "boundaries": [4],
         "schedules": [{"name": "linear_warmup", "warmup": 4}, {"name": "constant"}]},
        lr=1.0)
    np.testing.assert_allclose(_eval(j, np.arange(1, 7)), [0.25, 0.5, 0.75, 1, 1, 1])


def _train(tmp_path, *args):
    result = CliRunner().invoke(app, ["train", "--dataset", "iris", "--epochs", "4", "-q",
                                      "--out", str(tmp_path), "--name", "r", *args])
    return result


def test_cli_schedule_flags_log_the_closed_form_in_history(tmp_path):
    res = _train(tmp_path, "--members", "2", "--optimizer", "momentum", "--lr", "0.1",
                 "--batch-size", "32", "--schedule", "exponential",
                 "--schedule-param", "gamma=0.5")
    assert res.exit_code == 0, res.output
    h = pd.read_csv(tmp_path / "r" / "history.csv")
    for epoch in range(1, 5):
        lrs = h[h.epoch == epoch].lr.to_numpy()
        np.testing.assert_allclose(lrs, 0.1 * 0.5 ** epoch, rtol=1e-6)


def test_cli_varies_a_schedule_constant_per_member(tmp_path):
    res = _train(tmp_path, "--members", "3", "--schedule", "inverse_time",
                 "--vary", "decay_rate=uniform(0.5, 2)")
    assert res.exit_code == 0, res.output
    h = pd.read_csv(tmp_path / "r" / "history.csv")
    first = h[h.epoch == 1].lr.to_numpy()
    assert len(set(np.round(first, 8))) == 3
    assert all(v < 1e-3 for v in first)


def test_cli_reports_bad_schedules_without_traceback(tmp_path):
    res = _train(tmp_path, "--schedule", "cosine", "--schedule-param", "totl=3")
    assert res.exit_code == 2
    assert "did you mean 'total'" in res.output and "Traceback" not in res.output
    res = _train(tmp_path, "--schedule-param", "gamma")
    assert res.exit_code == 2 and "KEY=VALUE" in res.output


def test_yaml_plateau_and_adamw_run(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {dataset: iris}\noptimizer: {name: adamw, lr: 0.01, "
                   "weight_decay: 0.1, schedule: {name: cosine, total: 4, per: epoch}}\n"
                   "train: {epochs: 4, reduce_lr_on_plateau: {patience: 0, factor: 0.5, "
                   "monitor: dev_loss, min_delta: 100}}\n")
    res = CliRunner().invoke(app, ["train", str(cfg), "-q", "--out", str(tmp_path),
                                   "--name", "y"])
    assert res.exit_code == 0, res.output
    lrs = pd.read_csv(tmp_path / "y" / "history.csv").lr.to_numpy()
    cos = 0.005 * (1 + np.cos(np.pi * np.arange(4) / 4))
    plateau = 0.5 ** np.array([0, 0, 1, 2])  # never improves by 100: halved after epoch 2, 3
    np.testing.assert_allclose(lrs, cos * plateau, rtol=1e-5)


def test_config_schema_for_schedules_and_plateau():
    cfg = parse_config({"optimizer": {"name": "lbfgs"}})
    assert cfg.optimizer.lr == 1.0  # L-BFGS: the quasi-Newton step, not 1e-3
    assert parse_config({"optimizer": {"name": "sgd"}}).optimizer.lr == 1e-3
    with pytest.raises(ConfigError, match="reduce_lr_on_plateau.factor"):
        parse_config({"train": {"reduce_lr_on_plateau": {"factor": 2}}})
    with pytest.raises(ConfigError, match="2 values for 3 members"):
        parse_config({"members": 3, "optimizer": {"schedule": {"name": "inverse_time",
                                                               "decay_rate": [1, 2]}}})
    assert math.isclose(parse_config({"optimizer": {"schedule": {"name": "cosine",
                                                                 "total": 3}}}
                                     ).optimizer.schedule["total"], 3)
