"""Slot mechanics: re-drawing one member, resetting its optimizer rows, compaction."""

import pytest
import torch
from optuna.trial import TrialState

from netrx.nn import build
from netrx.optim import adam
from netrx.population.population import Population
from netrx.tune import tune
from netrx.tune.slots import copy_rows, take_rows


def test_reinit_member_equals_a_fresh_single_member():
    module = build("mlp", (5,), 3, hidden=[7, 6], batch_norm=True, dropout=0.2)
    pop = Population(module, 4, seed=10)
    with torch.no_grad():
        pop.flat.add_(1.0)
        for name, b in pop.buffers.items():
            if "running" in name:
                b.add_(0.5)
    pop.set_buffer(lambda m: type(m).__name__ == "Dropout", "p", [0.1, 0.2, 0.3, 0.4])
    pop.diverged[2] = True
    pop.stopped[2] = True
    before = {k: pop.member_state(k) for k in (0, 1, 3)}
    pop.reinit_member(2, 99)
    fresh = Population(module, 1, seed=99).member_state(0)
    got = pop.member_state(2)
    for name, value in fresh.items():
        if name.endswith(".p"):  # the per-member dropout rate stays the slot's
            assert float(got[name]) == pytest.approx(0.3)
        else:
            assert torch.equal(got[name], value), name
    for k, state in before.items():  # the other members are untouched
        for name, value in state.items():
            assert torch.equal(pop.member_state(k)[name], value)
    assert pop.seeds[2] == 99 and not pop.diverged[2] and not pop.stopped[2]


def test_copy_rows_resets_one_member_of_adam():
    params = {"flat": torch.randn(3, 5)}
    opt = adam(torch.tensor([1e-3, 1e-2, 1e-1]))
    state = opt.init(params)
    for _ in range(4):
        _, state = opt.update({"flat": torch.randn(3, 5)}, state, params)
    old_mu = state[0].mu["flat"].clone()
    rows = torch.tensor([False, True, False])
    state = copy_rows(state, opt.init(params), rows, 3)
    assert state[0].count.tolist() == [4, 0, 4]  # member 1 restarts its bias correction
    assert torch.all(state[0].mu["flat"][1] == 0) and torch.all(state[0].nu["flat"][1] == 0)
    assert torch.equal(state[0].mu["flat"][[0, 2]], old_mu[[0, 2]])


def test_take_rows_keeps_chosen_members():
    params = {"flat": torch.randn(4, 2)}
    opt = adam(1e-2)
    state = opt.init(params)
    for _ in range(3):
        _, state = opt.update({"flat": torch.randn(4, 2)}, state, params)
    small = take_rows(state, adam(1e-2).init({"flat": torch.zeros(2, 2)}),
                      torch.tensor([3, 1]), 4)
    assert torch.equal(small[0].mu["flat"], state[0].mu["flat"][[3, 1]])
    assert small[0].count.tolist() == [3, 3]


def test_hyperband_and_median_pruners_run(tiny):
    for pruner in ("hyperband", "median"):
        cfg = tiny(trials=10, slots=4, pruner=pruner, max_epochs=9,
                   space={"optimizer.lr": "log_uniform(1e-5, 1)"})
        result = tune(cfg, storage="memory", write=False)
        states = [t.state for t in result.study.get_trials()]
        assert len(states) == 10 and TrialState.COMPLETE in states
        assert all(s in (TrialState.COMPLETE, TrialState.PRUNED) for s in states)


@pytest.mark.slow
def test_local_worker_processes_share_the_study(tiny, tmp_path):
    cfg = tiny(trials=6, slots=2)
    result = tune(cfg, workers=2, out=str(tmp_path), name="w")
    trials = [t for t in result.study.get_trials()  # (a worker asking a trial after the
              if "netrx:over_budget" not in t.user_attrs]  # last one is told FAIL at once)
    assert len(trials) == 6 and all(t.state == TrialState.COMPLETE for t in trials)
    assert len({t.user_attrs["netrx:worker"] for t in trials}) >= 1
    assert (tmp_path / "w" / "best.yaml").is_file()
    assert result.summary["best"]["value"] == min(t.value for t in trials)


def test_batched_pruning_decides_like_should_prune_in_turn():
    import numpy as np
    import optuna

    from netrx.tune.fastpath import prune_batch

    def study_with_reports():
        study = optuna.create_study(pruner=optuna.pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=3))
        rng = np.random.default_rng(0)
        trials = [study.ask() for _ in range(12)]
        for t in trials[:5]:  # earlier trials already passed rung 0
            t.report(float(rng.random()), 1)
            t.should_prune()
        for t in trials[5:]:
            t.report(float(rng.random()), 1)
        return study, trials[5:]

    a, ta = study_with_reports()
    b, tb = study_with_reports()
    expected = [t.should_prune() for t in ta]
    assert prune_batch(b, tb) == expected
    assert any(expected) and not all(expected)
    attrs = [{k: v for k, v in t.system_attrs.items() if k.startswith("completed_rung")}
             for t in a.get_trials()]
    assert attrs == [{k: v for k, v in t.system_attrs.items() if k.startswith("completed_rung")}
                     for t in b.get_trials()]
