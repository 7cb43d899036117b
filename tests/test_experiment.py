"""experiment.run: interruption keeps a resumable partial run; resume equals a clean run."""

import json

import pytest

from netrx.config import parse_config
from netrx.experiment import run
from netrx.train import Callback


class Interrupt(Callback):
    def __init__(self, at):
        self.at = at

    def on_epoch_end(self, state, log):
        if state.epoch == self.at:
            raise KeyboardInterrupt


def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    cfg = parse_config({"name": "r", "out": str(tmp_path), "members": 2,
                        "data": {"dataset": "iris"}, "model": {"hidden": [8], "dropout": 0.1},
                        "train": {"epochs": 6, "batch_size": 16}})
    run(cfg.model_copy(update={"name": "clean"}), progress=False)

    import netrx.experiment.assemble as ex

    real_fit = ex.fit

    def interrupted_fit(*args, **kwargs):
        kwargs["callbacks"] = [*kwargs["callbacks"], Interrupt(3)]
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(ex, "fit", interrupted_fit)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, progress=False)
    assert (tmp_path / "r.partial" / "checkpoint.pt").is_file()
    assert not (tmp_path / "r").exists()
    monkeypatch.setattr(ex, "fit", real_fit)
    resumed = run(cfg, progress=False, resume=True)
    assert resumed.run_dir == tmp_path / "r" and not (tmp_path / "r.partial").exists()
    a = json.loads((tmp_path / "clean" / "summary.json").read_text())["best"]
    b = json.loads((tmp_path / "r" / "summary.json").read_text())["best"]
    assert a["dev_error"] == b["dev_error"] and a["test_error"] == b["test_error"]
