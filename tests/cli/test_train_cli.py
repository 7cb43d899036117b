"""`netrx train`, `netrx predict`, `netrx datasets` end to end (in process, CliRunner)."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import netrx.experiment.predictor
from netrx.cli.app import app

runner = CliRunner()


def _train(tmp_path, *args):
    return runner.invoke(app, ["train", "--out", str(tmp_path), "--quiet", *args])


def test_datasets_lists_builtins():
    result = runner.invoke(app, ["datasets"])
    assert result.exit_code == 0
    for name in ("mnist1d", "digits", "wine", "breast_cancer", "iris"):
        assert name in result.output


def test_train_builtin_writes_run_directory_and_predict_uses_it(tmp_path):
    result = _train(tmp_path, "--dataset", "wine", "--hidden", "16", "--epochs", "5",
                    "--members", "3", "--vary", "lr=log_uniform(1e-3,1e-1)", "--name", "w")
    assert result.exit_code == 0, result.output
    assert "ranked by dev error" in result.output
    run = tmp_path / "w"
    for f in ("config.yaml", "history.csv", "summary.json", "weights.safetensors",
              "preprocess.json"):
        assert (run / f).is_file()
    assert not (tmp_path / "w.partial").exists()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["members"] == 3 and "test_error" in summary["best"]
    history = pd.read_csv(run / "history.csv")
    assert len(history) == 5 * 3 and history["lr"].nunique() == 3
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert len(cfg["optimizer"]["lr"]) == 3  # the drawn values are part of the resolved config

    # the run reproduces from its config.yaml
    again = _train(tmp_path, str(run / "config.yaml"), "--name", "w2")
    assert again.exit_code == 0, again.output
    s2 = json.loads((tmp_path / "w2" / "summary.json").read_text())
    assert s2["best"]["dev_error"] == summary["best"]["dev_error"]
    assert s2["best"]["test_error"] == summary["best"]["test_error"]

    out = tmp_path / "preds" / "predictions.csv"
    pred = runner.invoke(app, ["predict", str(run), "wine", "--out", str(out.parent)])
    assert pred.exit_code == 0, pred.output
    frame = pd.read_csv(out)
    assert len(frame) == 178 and "prediction" in frame
    predictor = netrx.experiment.predictor.load(run)
    proba = predictor.predict_proba(np.zeros((2, 13)))
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)


def test_train_csv_with_string_labels_and_categories(tmp_path):
    rng = np.random.default_rng(0)
    n = 120
    x1 = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    label = np.where(x1 + (color == "red") > 0.3, "yes", "no")
    csv = tmp_path / "data.csv"
    pd.DataFrame({"x1": x1, "color": color, "label": label}).to_csv(csv, index=False)
    result = _train(tmp_path, "--dataset", str(csv), "--target", "label", "--hidden", "8",
                    "--epochs", "3", "--name", "c")
    assert result.exit_code == 0, result.output
    pre = json.loads((tmp_path / "c" / "preprocess.json").read_text())
    assert pre["classes"] == ["no", "yes"]
    pred = runner.invoke(app, ["predict", str(tmp_path / "c"), str(csv)])
    assert pred.exit_code == 0, pred.output
    assert "accuracy on 120 labelled examples" in pred.output


@pytest.mark.parametrize("args, message", [
    (["--dataset", "mnist2d"], "mnist1d"),
    (["--dataset", "wine", "--lr", "-1"], "lr"),
    (["--dataset", "wine", "--batch-size", "0"], "batch_size"),
    (["--dataset", "wine", "--optimizer", "adamm"], "'adamm' is not one of"),
    (["--dataset", "wine", "--model", "transformer"], "'transformer' is not one of"),
    (["--dataset", "wine", "--members", "2", "--vary", "hidden=int(1,5)"], "netrx tune"),
    (["--dataset", "wine", "--members", "2", "--vary", "lr=log_uniform(0,1)"], "lo > 0"),
])
def test_bad_input_exits_2_without_traceback_or_run_dir(tmp_path, args, message):
    result = _train(tmp_path, *args, "--epochs", "1", "--name", "bad")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert message in result.output.replace("\n", " ")
    assert not (tmp_path / "bad").exists() and not (tmp_path / "bad.partial").exists()


def test_unknown_config_key_suggests_the_right_one(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  dataset: iris\ntrain:\n  epoch: 3\n")
    result = _train(tmp_path, str(cfg))
    assert result.exit_code == 2
    assert "train.epoch" in result.output and "did you mean 'epochs'" in result.output


def test_beta_outside_range_is_rejected(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  dataset: iris\noptimizer:\n  name: adam\n  b1: 1.0\n")
    result = _train(tmp_path, str(cfg), "--name", "b")
    assert result.exit_code == 2 and "b1=1.0" in result.output


def test_predict_on_missing_run_dir_exits_2(tmp_path):
    result = runner.invoke(app, ["predict", str(tmp_path / "nope"), "wine"])
    assert result.exit_code == 2 and "missing" in result.output


def test_netrx_load_is_the_run_predictor(tmp_path):
    import netrx

    result = _train(tmp_path, "--dataset", "iris", "--hidden", "8", "--epochs", "2",
                    "--name", "i")
    assert result.exit_code == 0, result.output
    predictor = netrx.load(tmp_path / "i")
    assert predictor.predict(np.zeros((3, 4))).shape == (3,)
    assert set(predictor.predict(np.zeros((3, 4)))) <= set(predictor.classes)


def test_vary_replaces_the_member_list_of_a_config_file(tmp_path):
    """The issue's command: a file with 8 learning rates, --members 16 and --vary lr."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("members: 8\ndata: {dataset: iris}\nmodel: {hidden: [4]}\n"
                   "optimizer: {name: adam, lr: [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]}\n")
    result = _train(tmp_path, str(cfg), "--members", "16", "--vary",
                    "lr=log_uniform(1e-4,1e-1)", "--seed", "0", "--epochs", "1", "--name", "v")
    assert result.exit_code == 0, result.output
    lrs = yaml.safe_load((tmp_path / "v" / "config.yaml").read_text())["optimizer"]["lr"]
    assert len(lrs) == 16 and all(1e-4 <= v <= 1e-1 for v in lrs)


def test_version():
    import netrx

    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"netrx {netrx.__version__}"


def test_help_imports_no_torch():
    """`netrx --help` and `netrx train --help` stay fast: torch is imported by the commands
    that train, not by the command line itself (a wall clock is not asserted)."""
    import subprocess
    import sys

    code = ("import sys\nfrom netrx.cli.app import app\n"
            "for args in (['--help'], ['train', '--help'], ['improve', '--help']):\n"
            "    try:\n        app(args)\n    except SystemExit:\n        pass\n"
            "print('torch' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "False False"


@pytest.mark.parametrize("argv, message", [
    (["train", "--bogus"], "No such option: --bogus"),
    (["train", "--epochs", "abc"], "Invalid value for '--epochs'"),
    (["predict"], "Missing argument"),
    (["nosuch"], "No such command 'nosuch'"),
])
def test_usage_errors_are_one_line_with_exit_2(argv, message, capsys):
    from netrx.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert "╭" not in err  # no boxed panel


def test_main_returns_0_for_help_and_version():
    from netrx.cli import main

    assert main(["--version"]) == 0 and main(["train", "--help"]) == 0


def test_help_shows_the_config_defaults():
    res = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for text in ("passes over the training set (default 20)", "learning rate α (default 0.001)",
                 "examples per update (default 128)", "population size K (default 1)"):
        assert text in res.output, text


def test_a_choice_typed_wrong_is_one_line_with_a_suggestion(capsys):
    """Choices are Enum types (listed in --help, completed by the shell); the console
    script turns click's refusal into one line with the nearest choice."""
    from netrx.cli.entry import main

    assert main(["train", "--dataset", "wine", "--optimizer", "adamm"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and "did you mean 'adam'?" in err
    assert main(["train", "--help"]) == 0
    assert "adamw" in capsys.readouterr().out  # the choices are listed


def test_help_keeps_square_brackets(capsys):
    """rich read ``[tensorboard]`` as markup and printed ``pip install netrx``."""
    from netrx.cli.entry import main

    assert main(["train", "--help"]) == 0
    assert "netrx[tensorboar" in " ".join(capsys.readouterr().out.split())  # (may end in …)
