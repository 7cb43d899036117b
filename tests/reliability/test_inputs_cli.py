"""Inputs of ``netrx train`` that used to crash, hang or quietly do the wrong thing (issue 16,
items 6, 7 and 9): each is now one line ``error: …`` (never wrapped, whatever the width),
exit 2, and nothing written.

Before the fix: ``--members 10000000`` spent minutes in per-member copies with memory
growing past the machine's; ``--seed -1`` was a ValueError traceback (exit 1); ``--epochs
0`` wrote an untrained run with exit 0; a float target with ``--task classification``
trained one class per example (a warning only); classes missing from the training split
asked the user to "set the output layer to 9999 units"; error lines wrapped at 80 columns
when stderr was not a terminal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

FAST = ["--dataset", "iris", "--hidden", "4", "--epochs", "1", "--batch-size", "64",
        "--quiet"]


def _refused(r, *words):
    assert r.code == 2, r.err[-3000:]
    assert len(r.error_lines) == 1 and r.error_lines[0].startswith("error: "), r.err[-3000:]
    for w in words:
        assert w in r.err, r.err


def test_a_population_that_cannot_fit_is_refused_at_once_with_an_estimate(cli, tmp_path,
                                                                         monkeypatch):
    """Refused from the estimate, before any member is built (building 100,000 members
    took minutes and more than 5 GB before the fix)."""
    from netrx.population.population import Population

    def never(*args, **kwargs):
        raise AssertionError("a population was built before the refusal")

    monkeypatch.setattr(Population, "__init__", never)
    r = cli("train", *FAST, "--members", "10000000", "--out", tmp_path, "--name", "big")
    _refused(r, "10000000 members need about", "available", "--members", "--force")
    assert list(tmp_path.iterdir()) == []


def test_the_estimate_against_what_is_free_and_force(cli, tmp_path, monkeypatch):
    import netrx.experiment.memory as memory

    monkeypatch.setattr(memory, "available", lambda device: 2 << 20)  # 2 MiB free
    r = cli("train", *FAST, "--members", "64", "--out", tmp_path, "--name", "m")
    _refused(r, "64 members need about", "use at most --members")
    fit = int(r.err.split("use at most --members ")[1].split()[0])
    assert 1 <= fit < 64
    assert cli("train", *FAST, "--members", str(fit), "--out", tmp_path,
               "--name", "fits").code == 0
    r = cli("train", *FAST, "--members", "64", "--out", tmp_path, "--name", "forced",
            "--force")
    assert r.code == 0, r.err
    assert (tmp_path / "forced" / "weights.safetensors").is_file()


def test_the_estimate_is_of_the_right_size():
    import netrx.experiment.memory as memory
    from netrx.config import parse_config
    from netrx.experiment.build import build_model

    cfg = parse_config({"members": 1000, "model": {"hidden": [100, 100]}})
    model = build_model(cfg, (4,), 3)
    est = memory.estimate(cfg, model, (4,), __import__("torch").device("cpu"))
    P = 4 * 100 + 100 + 100 * 100 + 100 + 100 * 3 + 3
    assert est.params == P
    # parameters, gradients, Adam's two moments, the building copies: ≥ 6 × 4 bytes × P
    assert 6 * 4 * P * 1000 <= est.total <= 40 * 4 * P * 1000


@pytest.mark.parametrize("args, words", [
    (["--seed", "-1"], ["seed -1", "≥ 0"]),
    (["--seed", str(2**64)], ["seed"]),
    (["--epochs", "0"], ["epochs is 0", "--epochs"]),
], ids=["negative-seed", "huge-seed", "zero-epochs"])
def test_bad_numbers(cli, tmp_path, args, words):
    r = cli("train", *FAST, *args, "--out", tmp_path, "--name", "n")
    _refused(r, *words)
    assert list(tmp_path.iterdir()) == []


def test_a_float_target_is_not_a_classification(cli, tmp_path):
    rng = np.random.default_rng(0)
    csv = tmp_path / "f.csv"
    pd.DataFrame({"x": rng.normal(size=200), "y": rng.normal(size=200)}).to_csv(csv, index=False)
    r = cli("train", "--dataset", csv, "--target", "y", "--task", "classification",
            "--epochs", "1", "--quiet", "--out", tmp_path / "runs")
    _refused(r, "non-integer", "--task regression")
    assert "Warning" not in r.err  # the error alone, not the split's warning before it
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("per_class", [1, 1.5])
def test_too_many_classes_for_the_data(cli, tmp_path, per_class):
    k = 2000
    n = int(k * per_class)
    rng = np.random.default_rng(0)
    npz = tmp_path / "c.npz"
    np.savez(npz, X=rng.normal(size=(n, 3)).astype("float32"), y=np.arange(n) % k)
    r = cli("train", "--dataset", npz, "--hidden", "4", "--epochs", "1", "--quiet", "--out",
            tmp_path / "runs")
    _refused(r, f"{k} classes")
    assert "output layer" not in r.err and "units" not in r.err
    assert not (tmp_path / "runs").exists()


def test_error_lines_do_not_wrap_at_80_columns(cli, tmp_path):
    r = cli("train", *FAST, "--name", "a/" + "b" * 30, "--out", tmp_path / "runs")
    _refused(r)
    assert len(r.error_lines[0]) > 80
