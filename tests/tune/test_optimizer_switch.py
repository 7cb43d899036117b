"""A search that switches the optimizer drops the base config's hyperparameters the new
one does not take (found by improve: a strong default with AdamW's weight_decay and the
"better optimizer" remedy's choice(adamw, adam) made every trial an invalid config)."""

from netrx.config import parse_config
from netrx.tune.settings import load_tune_config


def test_switching_to_adam_leaves_adamw_weight_decay_out():
    cfg = load_tune_config({
        "data": {"dataset": "iris"},
        "optimizer": {"name": "adamw", "lr": 2e-3, "b2": 0.95, "weight_decay": 0.01},
        "search": {"space": {"optimizer.name": "choice('adamw', 'adam', 'sgd')"}}})
    adam = cfg.trial_config({"optimizer.name": "adam"})
    assert "weight_decay" not in adam["optimizer"] and adam["optimizer"]["b2"] == 0.95
    sgd = cfg.trial_config({"optimizer.name": "sgd"})
    assert set(sgd["optimizer"]) <= {"name", "lr", "schedule"}
    adamw = cfg.trial_config({"optimizer.name": "adamw"})
    assert adamw["optimizer"]["weight_decay"] == 0.01  # kept where it belongs
    for data in (adam, sgd, adamw):
        parse_config(data)
