"""Shared fixtures: Gaussian blobs in 10-D (a 4-class source task, a 3-class target task
with other classes) and a finished source run directory trained on the first."""

import numpy as np
import pytest
import torch

from netrx.config import parse_config
from netrx.experiment import run


def _blobs(rng, centres, classes, n):
    y = rng.choice(classes, n)
    return (centres[y] + rng.normal(size=(n, centres.shape[1]))).astype(np.float32), y


@pytest.fixture(scope="session")
def blob_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("blobs")
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(7, 10)) * 2.0
    X, y = _blobs(rng, centres, [0, 1, 2, 3], 400)
    np.savez(d / "source.npz", X=X, y=y)
    X, y = _blobs(rng, centres, [4, 5, 6], 90)
    np.savez(d / "target.npz", X=X, y=y)
    return d / "source.npz", d / "target.npz"


@pytest.fixture(scope="session")
def source_run(blob_files, tmp_path_factory):
    """A finished 2-member run: mlp 10 → 12 → BN → 8 → 4 classes."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("runs")
    result = run(parse_config({
        "name": "source", "out": str(out), "members": 2, "seed": 3,
        "data": {"dataset": str(blob_files[0])},
        "model": {"hidden": [12, 8], "batch_norm": True},
        "train": {"epochs": 4, "batch_size": 32}}), progress=False)
    torch.set_num_threads(before)
    return result


@pytest.fixture
def make_target(blob_files, tmp_path):
    """A 3-member config on the target task; keyword arguments go to ``transfer``."""

    def make(**transfer):
        return parse_config({
            "name": transfer.pop("name", "target"), "out": str(tmp_path), "members": 3,
            "seed": 11, "data": {"dataset": str(blob_files[1])},
            "model": {"hidden": [50], "dropout": 0.1},  # the source run's architecture wins
            "train": {"epochs": transfer.pop("epochs", 3), "batch_size": 16},
            "transfer": transfer})

    return make
