"""Resuming is checked before anything is written, and a killed run resumes exactly
(issue 16, items 5, 6 and 7).

Before the fix: ``--resume`` with a changed ``--hidden`` crashed with a traceback and
rewrote ``runs/<name>.partial/config.yaml``, so the printed resume command failed forever
after; a pickled ``checkpoint.pt`` gave an ``UnpicklingError`` traceback that repeated
torch's advice to use ``weights_only=False``; Ctrl-C before the first epoch named a
``.partial`` that did not exist; after ``kill -9`` the resumed run carried the killed
write's temporary file into the finished run directory, and (with per-member random
streams) its weights differed from an uninterrupted run's.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from safetensors.torch import load_file

from netrx.config import parse_config
from netrx.experiment import run
from netrx.train import Callback


class _Interrupt(Callback):
    def __init__(self, at: int) -> None:
        self.at = at

    def on_epoch_end(self, state, log):
        if state.epoch == self.at:
            raise KeyboardInterrupt


def _interrupted(tmp_path, monkeypatch, name="r", at=2, **model):
    """A run interrupted (Ctrl-C) after epoch ``at``: its ``.partial`` directory."""
    import netrx.experiment.assemble as assemble

    cfg = parse_config({"name": name, "out": str(tmp_path / "runs"), "members": 2,
                        "data": {"dataset": "iris"},
                        "model": {"hidden": [8], "dropout": 0.1, **model},
                        "train": {"epochs": 4, "batch_size": 32}})
    real = assemble.fit

    def fit(*args, **kwargs):
        kwargs["callbacks"] = [*kwargs["callbacks"], _Interrupt(at)]
        return real(*args, **kwargs)

    monkeypatch.setattr(assemble, "fit", fit)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, progress=False)
    monkeypatch.setattr(assemble, "fit", real)
    partial = tmp_path / "runs" / f"{name}.partial"
    assert (partial / "checkpoint.pt").is_file()
    return partial


def _digest(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.iterdir())}


def test_a_resume_with_another_config_is_refused_and_leaves_the_run_resumable(
        cli, tmp_path, monkeypatch):
    partial = _interrupted(tmp_path, monkeypatch)
    before = _digest(partial)
    config = partial / "config.yaml"
    for extra in (["--hidden", "16"], ["--members", "3"], ["--lr", "0.5"]):
        r = cli("train", config, "--resume", "--quiet", *extra)
        assert r.code == 2 and len(r.error_lines) == 1, r.err
        assert "cannot resume" in r.err and "--resume" in r.err, r.err
        assert _digest(partial) == before  # nothing rewritten
    r = cli("train", "--name", "r", "--out", tmp_path / "runs", "--resume", "--quiet",
            "--hidden", "16")
    assert r.code == 2 and "model.hidden=[8] (now [16])" in r.err, r.err
    assert _digest(partial) == before
    # the command printed at the interruption still works
    r = cli("train", config, "--resume", "--quiet")
    assert r.code == 0, r.err
    assert (tmp_path / "runs" / "r" / "report.html").is_file() and not partial.exists()


def test_resume_by_name_alone_uses_the_runs_own_config(cli, tmp_path, monkeypatch):
    _interrupted(tmp_path, monkeypatch, name="byname")
    r = cli("train", "--name", "byname", "--out", tmp_path / "runs", "--resume", "--quiet")
    assert r.code == 0, r.err
    assert (tmp_path / "runs" / "byname" / "weights.safetensors").is_file()


def test_nothing_to_resume(cli, tmp_path):
    r = cli("train", "--dataset", "iris", "--name", "none", "--out", tmp_path / "runs",
            "--resume", "--quiet", "--epochs", "1")
    assert r.code == 2 and "nothing to resume" in r.err, r.err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("kind", ["pickle", "torch-pickle", "truncated", "other-format"])
def test_a_hostile_or_corrupt_checkpoint_is_refused_and_never_unpickled(
        cli, tmp_path, monkeypatch, payload, kind):
    partial = _interrupted(tmp_path, monkeypatch)
    ckpt = partial / "checkpoint.pt"
    if kind == "pickle":
        payload(ckpt)
    elif kind == "torch-pickle":
        payload(ckpt, torch=True)
    elif kind == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[:500])
    else:
        torch.save({"weights": torch.zeros(3)}, ckpt)
    before = _digest(partial)
    r = cli("train", partial / "config.yaml", "--resume", "--quiet")
    assert r.code == 2 and len(r.error_lines) == 1, r.err
    assert str(ckpt) in r.err and "weights_only=False" not in r.err, r.err
    assert not payload.marker.exists()
    assert _digest(partial) == before


def test_ctrl_c_before_the_first_epoch_names_no_partial_directory(cli, tmp_path,
                                                                  monkeypatch):
    import netrx.experiment.execute as execute

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(execute, "assemble", interrupted)
    r = cli("train", "--dataset", "iris", "--name", "k", "--out", tmp_path / "runs",
            "--quiet", "--epochs", "1")
    assert r.code == 130
    assert "nothing was saved" in r.err and ".partial" not in r.err, r.err
    assert not (tmp_path / "runs" / "k.partial").exists()


def _weights(run_dir):
    return load_file(str(run_dir / "weights.safetensors"))


@pytest.mark.slow
def test_kill_9_during_training_resumes_to_the_same_weights(tmp_path):
    """SIGKILL a real ``netrx train`` process once it has saved an epoch (a write it was
    making is left as a temporary file), resume with the command the CLI prints on Ctrl-C,
    and get bit for bit the weights of an uninterrupted run."""
    runs = tmp_path / "runs"
    args = ["--dataset", "digits", "--model", "mlp", "--hidden", "64", "--members", "2",
            "--dropout", "0.2", "--epochs", "12", "--batch-size", "16", "--quiet",
            "--out", str(runs)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "netrx.cli", "train", *args, "--name",
                             "killed"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    partial = runs / "killed.partial"
    ckpt = partial / "checkpoint.pt"
    deadline = time.monotonic() + 240
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (runs / "killed").exists(), "the run finished before it could be killed"
    assert ckpt.is_file(), proc.stderr.read().decode()[-2000:]
    (partial / ".checkpoint.pt.x1y2z3.tmp").write_bytes(b"half a checkpoint")  # cut short

    def netrx(*argv):  # a fresh process each, as the killed one (same threads, same flags)
        done = subprocess.run([sys.executable, "-m", "netrx.cli", *map(str, argv)], env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]

    netrx("train", partial / "config.yaml", "--resume")
    resumed = runs / "killed"
    assert not any(p.name.endswith(".tmp") for p in resumed.iterdir())
    netrx("train", *args, "--name", "clean")
    a, b = _weights(resumed), _weights(runs / "clean")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    history = (resumed / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 12 * 2
    assert yaml.safe_load((resumed / "config.yaml").read_text())["name"] == "killed"
