"""Regularization and augmentation from YAML and flags: wiring, summary, errors."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from netrx.cli.app import app
from netrx.config import MEMBER_KEYS, parse_config
from netrx.errors import ConfigError
from netrx.experiment import prepare, run
from netrx.experiment.build import build_population, optimizer_from_config
from netrx.nn import DropConnect, Dropout, InputDropout

runner = CliRunner()


def _population(cfg):
    prepared = prepare(cfg)
    return build_population(cfg, prepared.input_shape, prepared.n_outputs)


def _train(tmp_path, *args):
    return runner.invoke(app, ["train", "--out", str(tmp_path), "--quiet", *args])


def test_member_keys_cover_every_continuous_strength():
    for short in ("l2", "l1", "weight_decay", "label_smoothing", "dropconnect",
                  "input_dropout", "dropout", "noise"):
        assert short in MEMBER_KEYS
    # the paths other modules refer to
    cfg = parse_config({"regularization": {"l2": 1.0, "weight_decay": 0.1},
                        "model": {"dropout": 0.2}, "train": {"early_stopping": {"patience": 3}},
                        "augment": {"preset": "auto"}})
    assert (cfg.regularization.l2, cfg.regularization.weight_decay, cfg.model.dropout,
            cfg.train.early_stopping.patience, cfg.augment.preset) == (1.0, 0.1, 0.2, 3, "auto")


@pytest.mark.parametrize("section, message", [
    ({"regularization": {"l2": -1.0}}, "l2 -1.0 must be a finite value ≥ 0"),
    ({"regularization": {"l1": [0.1, -0.1]}, "members": 2}, "l1 -0.1"),
    ({"regularization": {"weight_decay": float("nan")}}, "weight_decay"),
    ({"regularization": {"dropconnect": 1.0}}, "1 − keep_prob"),
    ({"regularization": {"input_dropout": -0.1}}, "1 − keep_prob"),
    ({"model": {"dropout": 1.0}}, "keep_prob"),
    ({"regularization": {"label_smoothing": 1.0}}, "label_smoothing"),
    ({"regularization": {"max_norm": 0.0}}, "max_norm"),
    ({"regularization": {"l1_mode": "prox"}}, "proximal"),
    ({"regularization": {"l22": 1.0}}, "did you mean 'l2'"),
    ({"augment": {"preset": "imag"}}, "did you mean 'image'"),
    ({"augment": {"noise": -1.0}}, "noise"),
    ({"augment": {"rotate": 190}}, "rotate"),
    ({"model": {"batch_norm_momentum": 0.0}}, "batch_norm_momentum"),
    ({"regularization": {"l2": [0.1, 0.2, 0.3]}, "members": 2}, "one per member"),
])
def test_bad_values_raise_config_errors(section, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(section)


def test_population_gets_member_wise_rates_and_layers():
    cfg = parse_config({"members": 3, "data": {"dataset": "iris"},
                        "model": {"hidden": [8, 8], "dropout": [0.0, 0.1, 0.2],
                                  "batch_norm": True, "batch_norm_momentum": 0.3},
                        "regularization": {"dropconnect": [0.0, 0.2, 0.4],
                                           "input_dropout": 0.05}})
    pop = _population(cfg)
    kinds = {type(m) for m in pop.template.modules()}
    assert {DropConnect, InputDropout, Dropout} <= kinds
    prefix = {type(m): n for n, m in pop.template.named_modules()}
    assert pop.buffers[f"{prefix[DropConnect]}.p"].tolist() == pytest.approx([0.0, 0.2, 0.4])
    assert pop.buffers[f"{prefix[InputDropout]}.p"].tolist() == pytest.approx([0.05] * 3)
    assert pop.buffers[f"{prefix[Dropout]}.p"].tolist() == pytest.approx([0.0, 0.1, 0.2])
    bn = [m for m in pop.template.modules() if type(m).__name__ == "BatchNorm"]
    assert bn and all(m.momentum == 0.3 for m in bn)


def test_weight_decay_is_decoupled_and_masked():
    cfg = parse_config({"members": 2, "data": {"dataset": "iris"},
                        "optimizer": {"name": "sgd", "lr": 0.5},
                        "regularization": {"weight_decay": [0.0, 0.1]}})
    pop = _population(cfg)
    opt, lr = optimizer_from_config(cfg, pop)
    state = opt.init({"flat": pop.flat})
    zero = torch.zeros_like(pop.flat)
    u, _ = opt.update({"flat": zero}, state, {"flat": pop.flat})
    expected = -0.5 * torch.tensor([[0.0], [0.1]]) * pop.flat * pop.weight_mask()
    torch.testing.assert_close(u["flat"], expected)
    bad = parse_config({"optimizer": {"name": "sgd", "weight_decay": 0.1},
                        "regularization": {"weight_decay": 0.1}})
    with pytest.raises(ConfigError, match="twice"):
        optimizer_from_config(bad, pop)


def test_run_with_every_regularizer_reports_sparsity_per_member():
    cfg = parse_config({
        "members": 2, "seed": 0, "data": {"dataset": "iris"},
        "model": {"hidden": [16], "dropout": 0.1, "batch_norm": True},
        "optimizer": {"name": "adam", "lr": 0.01},
        "train": {"epochs": 8, "batch_size": 16, "early_stopping": {"patience": 20}},
        "regularization": {"l2": [0.0, 0.5], "l1": [0.0, 60.0], "l1_mode": "proximal",
                           "max_norm": 3.0, "weight_decay": 1e-3, "label_smoothing": [0.0, 0.1],
                           "dropconnect": 0.1, "input_dropout": 0.05},
        "augment": {"preset": "signal", "shift": 0, "stretch": 0.0, "noise": [0.0, 0.05]},
    })
    result = run(cfg, write=False, progress=False)
    rows = result.members
    assert rows[0]["zero_weights"] == 0.0 and rows[1]["zero_weights"] > 0.05
    assert rows[1]["l1"] == 60.0 and rows[1]["noise"] == 0.05 and rows[1]["l2"] == 0.5
    pop = result.population
    mask = pop.weight_mask()[0].bool()
    frac = float((pop.flat[1, mask] == 0).double().mean())
    assert rows[1]["zero_weights"] == pytest.approx(frac)
    for p in pop.params.values():
        if p.dim() >= 3:
            assert float(p.detach().flatten(2).norm(dim=2).max()) <= 3.0 + 1e-4
    assert all(np.isfinite(r["dev_error"]) for r in rows)


def test_cli_flags_reach_the_run(tmp_path):
    result = _train(tmp_path, "--dataset", "iris", "--hidden", "8", "--epochs", "3",
                    "--l2", "0.1", "--l1", "5", "--l1-mode", "proximal", "--weight-decay",
                    "1e-3", "--max-norm", "2", "--dropconnect", "0.1", "--input-dropout", "0.1",
                    "--label-smoothing", "0.1", "--augment", "auto", "--name", "r")
    assert result.exit_code == 0, result.output
    saved = (tmp_path / "r" / "config.yaml").read_text()
    for text in ("l2: 0.1", "l1: 5.0", "l1_mode: proximal", "weight_decay: 0.001",
                 "max_norm: 2.0", "dropconnect: 0.1", "input_dropout: 0.1",
                 "label_smoothing: 0.1", "preset: auto"):
        assert text in saved
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert "zero_weights" in summary["member_table"][0]
    predicted = runner.invoke(app, ["predict", str(tmp_path / "r"), "iris"])
    assert predicted.exit_code == 0, predicted.output  # DropConnect etc. rebuilt from config
    assert "accuracy" in predicted.output


@pytest.mark.parametrize("args, message", [
    (["--l2", "-0.5"], "l2 -0.5"),
    (["--dropconnect", "1.5"], "keep_prob"),
    (["--input-dropout", "1"], "keep_prob"),
    (["--dropout", "1"], "keep_prob"),
    (["--label-smoothing", "2"], "label_smoothing"),
    (["--augment", "image"], "needs inputs [C, H, W]"),
    (["--max-norm", "-1"], "max_norm"),
    (["--members", "2", "--vary", "l2=log_uniform(1e-3,1)"], None),
])
def test_cli_errors_exit_2(tmp_path, args, message):
    result = _train(tmp_path, "--dataset", "iris", "--hidden", "4", "--epochs", "1",
                    "--name", "bad", *args)
    if message is None:  # a member-wise key may be varied
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert message in result.output.replace("\n", " ")


def test_augment_choices_include_auto_and_none(capsys):
    """--augment lists the special presets too; a typo is one line with the nearest."""
    from netrx.cli.entry import main

    assert main(["train", "--dataset", "iris", "--augment", "imgae"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "did you mean 'image'?" in err
    assert main(["train", "--dataset", "iris", "--augment", "none", "--epochs", "0"]) == 2
    assert "Invalid value for '--augment'" not in capsys.readouterr().err  # epochs refused
