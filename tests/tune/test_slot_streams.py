"""A trial's dropout masks and augmentation draws are its own: a trial trained in a slot,
beside any others, after a refill or a compaction, ends where its single run ends."""

import numpy as np
import pytest
from optuna.trial import TrialState

from netrx.config import parse_config
from netrx.experiment import run
from netrx.tune import tune
from netrx.tune.exports import curve_of


def test_slot_trials_with_stochastic_regularizers_equal_their_single_runs(tiny):
    cfg = tiny(trials=8, slots=4, metric="dev_loss", pruner="asha", min_epochs=1,
               reduction_factor=3, space={
        "optimizer.lr": "log_uniform(1e-3, 1e-1)",
        "model.dropout": "uniform(0.1, 0.5)",
        "regularization.input_dropout": "uniform(0.05, 0.3)",
        "augment.noise": "uniform(0.01, 0.2)"})
    cfg["model"]["hidden"] = [8, 8]
    cfg["regularization"] = {"dropconnect": 0.2}
    cfg["augment"] = {"preset": "signal", "shift": 1, "scale": 0.1, "stretch": 0.05}
    result = tune(cfg, storage="memory", write=False)
    stats = result.engine.stats
    assert len(stats["groups"]) == 1 and len(stats["groups"][0]["trials"]) > 4  # refilled
    assert stats["compactions"] >= 1  # (here: a trial moves from slot 3 in mid-training)
    states = {t.state for t in result.study.get_trials()}
    assert states == {TrialState.COMPLETE, TrialState.PRUNED}  # staggered refills
    for t in result.study.get_trials():
        values = result.config.space.decode(t.params)
        single = run(parse_config(result.config.trial_config(values)), progress=False,
                     write=False)
        curve = single.history.metric("dev_loss")[:, 0]
        got = curve_of(t)  # a pruned trial's curve stops early
        np.testing.assert_allclose(got, curve[:len(got)], rtol=1e-4, atol=1e-5)
        if t.state == TrialState.COMPLETE:
            assert t.value == pytest.approx(curve[-1], rel=1e-5, abs=1e-6)
