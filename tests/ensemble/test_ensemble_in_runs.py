"""`train.ensemble` in a run config, and the predictor of a run that chose an ensemble:
the averaged probabilities against the members' own, Polyak weights against the EWA of
the trajectory, bad keys refused."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import netrx.experiment.predictor
from netrx.cli.app import app
from netrx.config import parse_config
from netrx.ensemble import PolyakAveraging
from netrx.errors import ConfigError
from netrx.experiment import run

runner = CliRunner()


def _cfg(tmp_path, name, ensemble, members=4, **extra):
    return parse_config({"data": {"dataset": "wine"}, "model": {"hidden": [16]},
                         "optimizer": {"name": "adam", "lr": [0.003, 0.01, 0.03, 0.001][:members]},
                         "members": members, "train": {"epochs": 6, "ensemble": ensemble},
                         "name": name, "out": str(tmp_path), "seed": 3, "device": "cpu",
                         **extra})


def _member_probs(run_dir, X):
    """Each member's softmax probabilities, from its weights alone (member_module)."""
    pred = netrx.experiment.predictor.load(run_dir, member=0)
    Xp = torch.as_tensor(pred.preprocessor.transform(X))
    pop = pred.population
    return torch.stack([torch.softmax(pop.member_module(k)(Xp), -1)
                        for k in range(pop.members)]).detach().numpy()


def test_average_ensemble_is_chosen_tested_and_used_by_predict(tmp_path):
    result = run(_cfg(tmp_path, "avg", {"method": "average", "top": 3}), progress=False)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    ranked = sorted(summary["member_table"], key=lambda m: (m["dev_error"], m["member"]))
    top = [m["member"] for m in ranked[:3]]
    assert summary["ensemble_members"] == top
    assert "ensemble_dev_error" in summary and summary["chosen"].startswith("ensemble")

    X = np.random.default_rng(0).normal(size=(7, 13)) * 2.0
    per_member = _member_probs(result.run_dir, X)
    predictor = netrx.experiment.predictor.load(result.run_dir)
    assert predictor.members == top
    np.testing.assert_allclose(predictor.predict_proba(X), per_member[top].mean(0), rtol=1e-5,
                               atol=1e-6)
    alone = netrx.experiment.predictor.load(result.run_dir, member=top[-1])
    assert alone.members == [top[-1]]
    np.testing.assert_allclose(alone.predict_proba(X), per_member[top[-1]], rtol=1e-5, atol=1e-6)

    # the reported test error is the ensemble's, on the run's own test split
    from netrx.experiment import prepare

    test = prepare(result.config).splits.test
    Xp = torch.as_tensor(test.X)
    pop = predictor.population
    avg = torch.stack([torch.softmax(pop.member_module(k)(Xp), -1) for k in top]).mean(0)
    err = float((avg.argmax(-1).numpy() != test.y).mean())
    assert summary["best"]["test_error"] == pytest.approx(err)
    assert np.asarray(summary["confusion_matrix"]).sum() == len(test.y)


def test_predict_cli_says_it_uses_the_ensemble_accuracy(tmp_path):
    result = run(_cfg(tmp_path, "avg", {"method": "average"}), progress=False)
    out = runner.invoke(app, ["predict", str(result.run_dir), "wine"])
    assert out.exit_code == 0, out.output
    assert "accuracy on 178 labelled examples" in out.output


def test_polyak_run_keeps_the_ewa_of_the_trajectory(tmp_path):
    trajectory = []

    class Record(PolyakAveraging):  # the same callback, recording what it averages
        def on_step_end(self, state):
            trajectory.append(state.population.flat.detach().double().clone())
            super().on_step_end(state)

    import netrx.ensemble

    original = netrx.ensemble.PolyakAveraging
    netrx.ensemble.PolyakAveraging = Record  # what callbacks_from_config builds
    try:
        result = run(_cfg(tmp_path, "pol", {"method": "polyak", "beta": 0.9}, members=2),
                     progress=False)
    finally:
        netrx.ensemble.PolyakAveraging = original
    beta, v = 0.9, torch.zeros_like(trajectory[0])
    for theta in trajectory:
        v = beta * v + (1 - beta) * theta
    expected = v / (1 - beta ** len(trajectory))
    saved = load_file(str(result.run_dir / "weights.safetensors"))
    pop = result.population
    flat = torch.cat([saved[n].reshape(2, -1) for n in pop.offsets], dim=1).double()
    torch.testing.assert_close(flat, expected, rtol=1e-5, atol=1e-6)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["chosen"].startswith("polyak")


def test_bad_ensemble_keys_are_refused():
    with pytest.raises(ConfigError, match="top"):
        parse_config({"train": {"ensemble": {"method": "polyak", "top": 2}}})
    with pytest.raises(ConfigError, match="method"):
        parse_config({"train": {"ensemble": {"method": "vote"}}})
    with pytest.raises(ConfigError, match="beta"):
        parse_config({"train": {"ensemble": {"method": "polyak", "beta": 1.0}}})


def test_polyak_and_restore_best_are_not_combined_silently():
    from netrx.config import parse_config
    from netrx.errors import ConfigError

    with pytest.raises(ConfigError, match="restore_best: false"):
        parse_config({"train": {"ensemble": {"method": "polyak"},
                                "early_stopping": {"patience": 3}}})
    cfg = parse_config({"train": {"ensemble": {"method": "polyak"},
                                  "early_stopping": {"patience": 3, "restore_best": False}}})
    assert cfg.train.ensemble.method == "polyak"
