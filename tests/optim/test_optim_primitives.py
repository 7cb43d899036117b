"""Clipping, schedules inside the chain, the lr state, the registry and its errors."""

import numpy as np
import pytest
import torch

from netrx.errors import ConfigError
from netrx.optim import (
    OPTIMIZERS,
    adam,
    apply_updates,
    build_optimizer,
    chain,
    clip_by_global_norm,
    clip_by_value,
    current_lr,
    scale_by_lr,
    scale_by_schedule,
    schedules,
    sgd,
)
from netrx.optim.transforms import find_lr_state


def _grads(K=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(K, 4, 5, generator=g, dtype=torch.float64) * 3,
            "b": torch.randn(K, 5, generator=g, dtype=torch.float64)}


def _apply(t, grads, params=None):
    params = params or {k: torch.zeros_like(v) for k, v in grads.items()}
    state = t.init(params)
    return t.update(grads, state, params)[0]


def test_clip_by_global_norm_is_per_member_over_all_its_parameters():
    grads = _grads()
    c = torch.tensor([1.0, 100.0, 0.5], dtype=torch.float64)
    out = _apply(clip_by_global_norm(c), grads)
    for k in range(3):
        flat = np.concatenate([grads["w"][k].numpy().ravel(), grads["b"][k].numpy().ravel()])
        norm = np.linalg.norm(flat)
        factor = min(1.0, float(c[k]) / norm)
        np.testing.assert_allclose(out["w"][k].numpy(), grads["w"][k].numpy() * factor)
        np.testing.assert_allclose(out["b"][k].numpy(), grads["b"][k].numpy() * factor)
    # the same as torch's clip_grad_norm_ on each member's own parameters
    k = 0
    ps = [torch.nn.Parameter(torch.zeros_like(grads[n][k])) for n in ("w", "b")]
    for p, n in zip(ps, ("w", "b")):
        p.grad = grads[n][k].clone()
    torch.nn.utils.clip_grad_norm_(ps, 1.0)
    torch.testing.assert_close(out["w"][0], ps[0].grad, rtol=1e-5, atol=0)
    assert float(out["b"][1].norm()) == pytest.approx(float(grads["b"][1].norm()))  # untouched


def test_clip_by_value():
    grads = _grads()
    out = _apply(clip_by_value(torch.tensor([0.5, 1.0, 10.0], dtype=torch.float64)), grads)
    for k, c in enumerate([0.5, 1.0, 10.0]):
        np.testing.assert_array_equal(out["w"][k].numpy(), np.clip(grads["w"][k].numpy(), -c, c))
    assert float(_apply(clip_by_value(0.1), grads)["b"].abs().max()) == pytest.approx(0.1)


def test_scale_by_lr_with_a_schedule_uses_each_members_step_count():
    sched = schedules.inverse_time(torch.tensor([0.2, 1.0]), torch.tensor([1.0, 0.5]),
                                   per="step")
    t = scale_by_lr(sched)
    g = {"w": torch.ones(2, 3)}
    state = t.init(g)
    for step in range(1, 6):
        u, state = t.update(g, state)
        expected = torch.tensor([0.2 / (1 + step), 1.0 / (1 + 0.5 * step)])
        torch.testing.assert_close(u["w"][:, 0], -expected)
        torch.testing.assert_close(current_lr(state), expected)


def test_scale_by_schedule_is_a_multiplicative_factor():
    t = chain(scale_by_schedule(schedules.exponential(1.0, 0.5, per="step")), scale_by_lr(0.1))
    g = {"w": torch.ones(1, 2)}
    state = t.init(g)
    for step in range(1, 4):
        u, state = t.update(g, state)
        torch.testing.assert_close(u["w"], torch.full((1, 2), -0.1 * 0.5 ** step))


def test_lr_scale_in_the_state_changes_the_step():
    opt = adam(1e-2)
    params = {"w": torch.zeros(2, 3)}
    state = opt.init(params)
    find_lr_state(state).scale[1] = 0.1
    u, state = opt.update({"w": torch.ones(2, 3)}, state, params)
    torch.testing.assert_close(u["w"][0], torch.full((3,), -1e-2))
    torch.testing.assert_close(u["w"][1], torch.full((3,), -1e-3))
    torch.testing.assert_close(current_lr(state), torch.tensor([1e-2, 1e-3]))


def test_registry_builds_every_first_order_optimizer_and_trains():
    for name in OPTIMIZERS:
        if name == "lbfgs":
            continue
        lr = 1.0 if name == "adagrad" else 0.1
        opt = build_optimizer(name, lr=lr)
        params = {"w": torch.full((2, 3), 5.0)}
        state = opt.init(params)
        for _ in range(50):
            updates, state = opt.update({"w": params["w"].clone()}, state, params)  # ∇½w²
            apply_updates(params, updates)
        assert float(params["w"].abs().max()) < 4.0, name


def test_build_optimizer_chains_clipping_in_front():
    opt = build_optimizer("sgd", lr=1.0, clip_norm=1.0)
    g = {"flat": torch.tensor([[3.0, 4.0]])}
    u = _apply(opt, g)
    torch.testing.assert_close(u["flat"], torch.tensor([[-0.6, -0.8]]))
    u = _apply(build_optimizer("sgd", lr=1.0, clip_value=1.0), g)
    torch.testing.assert_close(u["flat"], torch.tensor([[-1.0, -1.0]]))


@pytest.mark.parametrize("name, hyper, match", [
    ("adamm", {}, "did you mean 'adam'"),
    ("adam", {"beta": 0.9}, "no hyperparameter 'beta'.*b1"),
    ("momentum", {"lr": 0.1, "beta": 1.0}, r"beta=1.0 is outside \[0.0, 1.0\)"),
    ("sgd", {"lr": -1.0}, "lr=-1.0 is outside"),
    ("rmsprop", {"lr": 0.1, "eps": -1.0}, "eps=-1.0"),
    ("adamw", {"weight_decay": -0.1}, "weight_decay=-0.1"),
    ("sgd", {"lr": 0.1, "clip_norm": 0.0}, "clip_norm=0.0"),
    ("lbfgs", {"clip_norm": 1.0}, "first-order optimizers, not lbfgs"),
    ("lbfgs", {"line_search": "wolfe"}, "unknown line search 'wolfe'"),
    ("lbfgs", {"history": 0}, "history=0"),
    ("nesterov", {"lr": torch.tensor([0.1, -0.1])}, "lr=-0.1"),
])
def test_bad_optimizer_settings_raise_config_errors(name, hyper, match):
    with pytest.raises(ConfigError, match=match):
        build_optimizer(name, **hyper)


def test_sgd_rejects_a_matrix_of_learning_rates():
    with pytest.raises(ConfigError, match="1-D tensor"):
        sgd(torch.ones(2, 2))
