"""Freezing, the new output layer, per-layer learning rates and cut networks."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import netrx.experiment.predictor
from netrx.errors import ConfigError
from netrx.experiment import prepare, run
from netrx.experiment.build import build_population, load_transfer_source
from netrx.experiment.transfer import resolve
from netrx.optim import adam, chain, sgd
from netrx.optim.masking import scale_by_mask
from netrx.transfer import lr_multipliers

FROZEN = ["1.weight", "2.weight", "2.bias", "2.running_mean", "2.running_var"]
SOURCE = {"1.weight": "1.weight", "2.weight": "2.weight", "2.bias": "2.bias",
          "2.running_mean": "2.running_mean", "2.running_var": "2.running_var"}


def _tensor(pop, name):
    return pop.params[name] if name in pop.params else pop.buffers[name]


def _best_state(run_dir):
    best = json.loads((run_dir / "summary.json").read_text())["best_member"]
    return {k: v[best] for k, v in load_file(str(run_dir / "weights.safetensors")).items()}


def test_frozen_layers_stay_bit_identical_while_the_others_train(source_run, make_target):
    cfg = make_target(init_from=str(source_run.run_dir), freeze=1, epochs=3)
    cfg.regularization.l2, cfg.regularization.weight_decay = 0.1, 0.01  # act on frozen W too
    prepared = prepare(cfg)
    resolved = resolve(cfg, prepared)
    # what training starts from
    start = build_population(resolved, prepared.input_shape, prepared.n_outputs)
    load_transfer_source(resolved, start)
    result = run(cfg, progress=False)
    pop, state = result.population, _best_state(source_run.run_dir)
    for k in range(pop.members):
        for name in FROZEN:  # weights, γ, β and the batch-norm running statistics
            assert torch.equal(_tensor(pop, name)[k].cpu(), state[SOURCE[name]]), name
    for name in ("5.weight", "6.weight", "6.running_mean", "9.weight", "9.bias"):
        assert not torch.equal(_tensor(pop, name), _tensor(start, name)), name


def test_new_output_layer_is_seeded_per_member_for_the_new_classes(source_run, make_target):
    cfg = make_target(init_from=str(source_run.run_dir))
    prepared = prepare(cfg)
    cfg = resolve(cfg, prepared)
    pop = build_population(cfg, prepared.input_shape, prepared.n_outputs)
    copied = load_transfer_source(cfg, pop)
    assert "9.weight" not in copied and "9.bias" not in copied
    # same seeds, no transfer
    fresh = build_population(cfg, prepared.input_shape, prepared.n_outputs)
    assert pop.params["9.weight"].shape == (3, 3, 8)  # 3 members × 3 new classes × 8
    assert torch.equal(pop.params["9.weight"], fresh.params["9.weight"])
    assert not torch.equal(pop.params["9.weight"][0], pop.params["9.weight"][1])
    assert not torch.equal(pop.params["5.weight"], fresh.params["5.weight"])


def test_lr_multipliers_per_layer(source_run, make_target):
    cfg = make_target(init_from=str(source_run.run_dir))
    prepared = prepare(cfg)
    pop = build_population(resolve(cfg, prepared), prepared.input_shape, prepared.n_outputs)

    def value(mask, name):
        a, b = pop.offsets[name]
        values = mask[0, a:b].unique().tolist()
        assert len(values) == 1
        return values[0]

    m = lr_multipliers(pop, freeze=1, head_lr_multiplier=2.0, layer_lr_decay=0.5)
    assert [value(m, n) for n in ("1.weight", "2.bias", "5.weight", "6.weight", "9.bias")] \
        == [0.0, 0.0, 0.5, 0.5, 2.0]
    m = lr_multipliers(pop, freeze=0, layer_lr_decay=0.5)  # d layers below the head: 0.5^d
    assert [value(m, n) for n in ("1.weight", "5.weight", "9.weight")] == [0.25, 0.5, 1.0]
    with pytest.raises(ConfigError, match="freeze at most 2"):
        lr_multipliers(pop, freeze=3)


def test_scale_by_mask_is_a_per_group_learning_rate_as_in_torch_adam():
    """Adam whose step is scaled by c per coordinate equals torch.optim.Adam with one
    parameter group per learning rate c·α."""
    torch.manual_seed(0)
    a, b = torch.randn(1, 6), torch.randn(1, 4)
    ta, tb = a.clone().requires_grad_(), b.clone().requires_grad_()
    reference = torch.optim.Adam([{"params": [ta], "lr": 0.01 * 0.3},
                                  {"params": [tb], "lr": 0.01 * 2.0}], lr=0.01)
    flat = torch.cat([a, b], dim=1)
    mask = torch.cat([torch.full((1, 6), 0.3), torch.full((1, 4), 2.0)], dim=1)
    opt = chain(adam(0.01), scale_by_mask({"flat": mask}))
    state = opt.init({"flat": flat})
    for _ in range(5):
        g = torch.randn(1, 10)
        ta.grad, tb.grad = g[:, :6].clone(), g[:, 6:].clone()
        reference.step()
        u, state = opt.update({"flat": g}, state, {"flat": flat})
        flat = flat + u["flat"]
    torch.testing.assert_close(flat, torch.cat([ta, tb], dim=1).detach(), rtol=1e-5, atol=1e-7)


def test_scale_by_mask_freezes_exactly_even_non_finite_updates():
    g = torch.tensor([[1.0, float("nan"), float("inf"), 2.0]])
    mask = torch.tensor([[1.0, 0.0, 0.0, 0.5]])
    opt = chain(sgd(0.1), scale_by_mask({"flat": mask}))
    u, _ = opt.update({"flat": g}, opt.init({"flat": torch.zeros(1, 4)}))
    assert u["flat"][0].tolist() == pytest.approx([-0.1, 0.0, 0.0, -0.1])
    with pytest.raises(ConfigError, match="negative or non-finite"):
        scale_by_mask({"flat": torch.tensor([[-1.0]])})
    with pytest.raises(ConfigError, match="does not broadcast"):
        scale_by_mask({"flat": torch.ones(1, 3)}).init({"flat": torch.zeros(2, 4)})


def test_stage_cuts_the_network_and_the_run_reloads(source_run, make_target, blob_files):
    cfg = make_target(init_from=str(source_run.run_dir), stage=1, freeze=1, name="cut")
    result = run(cfg, progress=False)
    pop = result.population
    assert [n for n in pop.params] == ["1.weight", "2.weight", "2.bias", "6.weight", "6.bias"]
    assert pop.params["6.weight"].shape == (3, 3, 12)  # linear classifier on stage 1 (width 12)
    predictor = netrx.experiment.predictor.load(result.run_dir)  # rebuilt from config.yaml alone
    X = np.load(blob_files[1])["X"][:7]
    proba = predictor.predict_proba(X)
    Xp = torch.as_tensor(predictor.preprocessor.transform(X))
    expected = torch.softmax(pop.predict(Xp)[result.best], -1).cpu().numpy()
    np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="stage is 1…2"):
        run(make_target(init_from=str(source_run.run_dir), stage=3, name="x"), progress=False)


@pytest.mark.parametrize("constraint", [{"l1": 0.5, "l1_mode": "proximal"},
                                        {"max_norm": 0.05}])
def test_constraints_leave_frozen_layers_alone(source_run, make_target, constraint):
    """The proximal L1 step (threshold α·mᵢ·λ/m) and the max-norm projection act after the
    update: on a frozen layer (mᵢ = 0) they must do nothing either."""
    cfg = make_target(init_from=str(source_run.run_dir), freeze=1, epochs=2)
    for key, value in constraint.items():
        setattr(cfg.regularization, key, value)
    result = run(cfg, progress=False)
    pop, state = result.population, _best_state(source_run.run_dir)
    for k in range(pop.members):
        assert torch.equal(pop.params["1.weight"][k].cpu(), state["1.weight"]), constraint
    assert not torch.equal(pop.params["5.weight"][0].cpu(), state["5.weight"])
