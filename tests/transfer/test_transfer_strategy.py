"""The notes' table as plans, `strategy: auto` in a run, and the CLI flags."""

import pytest
import yaml
from typer.testing import CliRunner

from netrx.cli.app import app
from netrx.config import parse_config
from netrx.errors import ConfigError
from netrx.experiment import run
from netrx.transfer import strategy


def test_the_four_cells_of_the_table():
    # a network of 3 layers: 2 pretrained hidden layers + the output layer; 5 classes
    little_similar = strategy(50, "similar", n_layers=3, n_classes=5)
    assert "linear classifier on the top layer" in little_similar.advice
    assert (little_similar.freeze, little_similar.reinit, little_similar.stages) == (2, 1, ())

    little_different = strategy(50, "different", n_layers=3, n_classes=5)
    assert "you're in trouble" in little_different.advice
    assert little_different.stages == (1, 2)  # a linear classifier from each stage

    lot_similar = strategy(1000, "similar", n_layers=3, n_classes=5)
    assert "a few layers" in lot_similar.advice
    assert (lot_similar.freeze, lot_similar.layer_lr_decay, lot_similar.stages) == (1, 0.3, ())

    lot_different = strategy(1000, "different", n_layers=3, n_classes=5)
    assert "larger number" in lot_different.advice
    assert (lot_different.freeze, lot_different.layer_lr_decay) == (0, 0.5)

    # deeper: 6 pretrained layers -> a few = 2 trained, a larger number = 4 trained
    assert strategy(10**4, "similar", n_layers=7).freeze == 4
    assert strategy(10**4, "different", n_layers=7).freeze == 2
    # the threshold is per class: 99 per class is little, 100 is a lot
    assert strategy(495, "similar", n_classes=5).cell.startswith("very little")
    assert strategy(500, "similar", n_classes=5).cell.startswith("quite a lot")
    assert "freeze layers 1…2, a new output layer" in little_similar.describe()


def test_strategy_rejects_bad_input():
    with pytest.raises(ConfigError, match="did you mean 'different'"):
        strategy(10, "diferent")
    with pytest.raises(ConfigError, match="at least 1 example"):
        strategy(0, "similar")


def test_auto_fills_the_plan_and_picks_a_stage_on_dev(source_run, make_target):
    similar = run(make_target(init_from=str(source_run.run_dir), strategy="auto",
                              name="similar"), progress=False)
    t = similar.config.transfer  # 54 training rows for 3 classes: very little data
    assert (t.freeze, t.stage, t.head_lr_multiplier, t.layer_lr_decay) == (2, None, 1.0, 1.0)

    different = run(make_target(init_from=str(source_run.run_dir), strategy="auto",
                                similarity="different", name="different"), progress=False)
    t = different.config.transfer
    assert t.stage in (1, 2) and t.freeze == t.stage
    saved = yaml.safe_load((different.run_dir / "config.yaml").read_text())["transfer"]
    assert saved["stage"] == t.stage and saved["strategy"] == "auto"  # fully resolved

    explicit = run(make_target(init_from=str(source_run.run_dir), strategy="auto", freeze=0,
                               name="explicit"), progress=False)
    assert explicit.config.transfer.freeze == 0  # a key that is set wins over the plan


def test_transfer_keys_need_a_source():
    with pytest.raises(ConfigError, match="transfer.freeze needs transfer.init_from"):
        parse_config({"transfer": {"freeze": 1}})
    with pytest.raises(ConfigError, match="freeze=3 exceeds transfer.stage=1"):
        parse_config({"transfer": {"init_from": "x", "stage": 1, "freeze": 3}})


def test_cli_flags(source_run, blob_files, tmp_path):
    runner = CliRunner()
    base = ["train", "--out", str(tmp_path), "--quiet", "--dataset", str(blob_files[1]),
            "--epochs", "2", "--batch-size", "16"]
    result = runner.invoke(app, [*base, "--name", "ft", "--init-from", str(source_run.run_dir),
                                 "--transfer", "auto", "--similarity", "different"])
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((tmp_path / "ft" / "config.yaml").read_text())
    assert saved["transfer"]["similarity"] == "different" and saved["transfer"]["stage"] >= 1
    assert saved["model"]["hidden"] == [12, 8]

    result = runner.invoke(app, [*base, "--freeze", "1"])
    assert result.exit_code == 2 and "needs transfer.init_from" in result.output
    result = runner.invoke(app, [*base, "--init-from", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "does not exist" in result.output
