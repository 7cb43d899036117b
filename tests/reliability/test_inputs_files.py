"""Pickle payloads and corrupt files in every file netrx loads from a run or a transfer
source (issue 16, item 7): each is refused with one line ``error: …``, exit 2, and no
pickle is ever run (the payload would create a marker file).

Before the fix: a corrupt or pickled ``weights.safetensors`` gave a ``SafetensorError``
traceback (exit 1) in ``predict`` and ``--init-from RUN_DIR``; a pickled state-dict file
for ``--init-from`` printed torch's advice to load it with ``weights_only=False``; a corrupt
``summary.json`` / ``preprocess.json`` or an NPZ of pickled objects for ``predict`` crashed
with a traceback.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from netrx.config import parse_config
from netrx.experiment import run


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    cfg = parse_config({"name": "ok", "out": str(out), "members": 2,
                        "data": {"dataset": "iris"}, "model": {"hidden": [4]},
                        "train": {"epochs": 1, "batch_size": 64}})
    return run(cfg, progress=False).run_dir


@pytest.fixture
def copy(finished, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(finished, target)
    return target


def _one_line_error(r, *words):
    assert r.code == 2, r.err[-3000:]
    assert len(r.error_lines) == 1 and r.error_lines[0].startswith("error: "), r.err[-3000:]
    assert "weights_only=False" not in r.err and "Traceback" not in r.err
    for w in words:
        assert w in r.err, r.err


def _spoil(path, how, payload):
    if how == "pickle":
        payload(path)
    elif how == "torch-pickle":
        payload(path, torch=True)
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(b"\x00\xff" * 1000)


HOW = ["pickle", "torch-pickle", "truncated", "empty", "garbage"]


@pytest.mark.parametrize("how", HOW)
def test_predict_refuses_a_hostile_or_corrupt_weights_file(cli, copy, payload, how):
    _spoil(copy / "weights.safetensors", how, payload)
    _one_line_error(cli("predict", copy, "iris"), "weights.safetensors")
    assert not payload.marker.exists()


@pytest.mark.parametrize("how", HOW)
def test_init_from_a_run_dir_refuses_a_hostile_or_corrupt_weights_file(cli, copy, payload,
                                                                        tmp_path, how):
    _spoil(copy / "weights.safetensors", how, payload)
    r = cli("train", "--dataset", "iris", "--init-from", copy, "--epochs", "1", "--quiet",
            "--out", tmp_path / "runs", "--name", "t")
    _one_line_error(r, "weights.safetensors")
    assert not payload.marker.exists()
    assert not (tmp_path / "runs" / "t").exists() and not (tmp_path / "runs" / "t.partial").exists()


@pytest.mark.parametrize("how", ["pickle", "torch-pickle"])
def test_init_from_a_pickled_state_dict_file_is_refused_unrun(cli, tmp_path, payload, how):
    source = tmp_path / "weights.pt"
    _spoil(source, how, payload)
    r = cli("train", "--dataset", "iris", "--init-from", source, "--epochs", "1", "--quiet",
            "--out", tmp_path / "runs", "--name", "t")
    _one_line_error(r, "pickle")
    assert not payload.marker.exists()


@pytest.mark.parametrize("name, content", [
    ("summary.json", b"{not json"),
    ("summary.json", b"[1, 2]"),
    ("preprocess.json", b"\xff\xfe"),
    ("preprocess.json", b'{"task": "classification"}'),
    ("config.yaml", b'name: !!python/object/apply:os.system ["true"]\n'),
])
def test_predict_refuses_a_corrupt_run_file(cli, copy, name, content):
    (copy / name).write_bytes(content)
    _one_line_error(cli("predict", copy, "iris"), name)


def test_predict_refuses_weights_of_another_architecture(cli, copy, finished):
    from safetensors.torch import load_file, save_file

    state = load_file(str(copy / "weights.safetensors"))
    save_file({k: torch.zeros(v.shape[0], *(s + 1 for s in v.shape[1:]))
               for k, v in state.items()}, str(copy / "weights.safetensors"))
    _one_line_error(cli("predict", copy, "iris"), "does not match")


@pytest.mark.parametrize("how", ["objects", "not-a-zip"])
def test_predict_refuses_an_npz_of_pickled_objects_or_garbage(cli, finished, tmp_path,
                                                              payload, how):
    data = tmp_path / "new.npz"
    if how == "objects":
        import os

        class Payload:
            def __reduce__(self):
                return os.system, (f"touch {payload.marker}",)

        np.savez(data, X=np.array([Payload()] * 3, dtype=object))
    else:
        data.write_bytes(b"PK\x03\x04 this is not a zip")
    _one_line_error(cli("predict", finished, data), "NPZ")
    assert not payload.marker.exists()
