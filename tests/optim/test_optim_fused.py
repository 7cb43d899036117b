"""The fused form of the common optimizers (netrx.optim.fused), the training loop's fast path,
against their chains: the same parameters and state (relative 1e-6) with members masked out
(NaN gradients included), and against torch.optim."""

import math

import pytest
import torch
from torch.utils._pytree import tree_flatten

import netrx
from netrx.nn import mlp
from netrx.optim import (
    adagrad,
    adam,
    adamw,
    build_optimizer,
    chain,
    heavy_ball,
    momentum,
    nesterov,
    rmsprop,
    scale_by_lr,
    scale_by_schedule,
    schedules,
    sgd,
)
from netrx.optim.base import Transform
from netrx.optim.fused import fused_step, keep_only_, masked_add_
from netrx.optim.masking import scale_by_mask
from netrx.optim.transforms import add_decayed_weights
from netrx.optim.weight_decay import decoupled_weight_decay

K = 4


def _t(values, dtype):
    return torch.tensor(values, dtype=dtype)


def _optimizers(dtype):
    lr = _t([0.05, 0.2, 0.01, 0.1], dtype)
    beta = _t([0.9, 0.5, 0.99, 0.0], dtype)
    mask = {"W": torch.ones(1, 1, 1, dtype=dtype), "b": torch.zeros(1, 1, dtype=dtype)}
    cosine = schedules.cosine(_t([1e-2, 3e-2, 1e-3, 5e-3], dtype), total=7)
    decay = schedules.exponential(1.0, 0.9, per="step")
    return {
        "sgd": sgd(0.1),
        "sgd_per_member": sgd(lr),
        "sgd_schedule": sgd(cosine),
        "heavy_ball": heavy_ball(lr, beta),
        "heavy_ball_float": heavy_ball(0.1, 0.9),
        "nesterov": nesterov(lr, beta),
        "nesterov_float": nesterov(0.1, 0.8),
        "momentum": momentum(lr, beta),
        "momentum_corrected": momentum(0.1, 0.9, bias_correction=True),
        "adagrad": adagrad(lr, _t([1e-10, 1e-6, 1e-3, 1e-8], dtype)),
        "rmsprop": rmsprop(lr, beta, 1e-8),
        "rmsprop_float": rmsprop(0.01, 0.9, 1e-8),
        "adam": adam(1e-2),  # float β, ε: torch's one-pass kernel
        "adam_per_member": adam(lr, beta, _t([0.999, 0.99, 0.9, 0.5], dtype)),
        "adam_schedule": adam(cosine),
        "adam_uncorrected": adam(1e-2, bias_correction=False),
        "adamw": adamw(1e-2, weight_decay=0.1),
        "adamw_mask": adamw(lr, weight_decay=_t([0.1, 1.0, 0.0, 0.5], dtype), mask=mask),
        "adamw_mask_float": adamw(1e-2, weight_decay=0.3, mask=mask),
        "adam_clipped": build_optimizer("adam", lr=1e-2, clip_norm=0.5),
        "momentum_clipped": build_optimizer("momentum", lr=lr, clip_value=0.3),
        "decay_then_sgd": chain(add_decayed_weights(0.2), scale_by_lr(lr)),
        "scheduled_adam": chain(adam(1e-2), scale_by_schedule(decay)),
        "schedule_then_lr": chain(heavy_ball(1.0, 0.9).parts[0], scale_by_schedule(decay),
                                  scale_by_lr(lr)),
    }


def _params(dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"W": torch.randn(K, 5, 3, generator=g, dtype=dtype),
            "b": torch.randn(K, 3, generator=g, dtype=dtype)}


def _grads(step, dtype, nan_member=None):
    g = torch.Generator().manual_seed(100 + step)
    grads = {"W": torch.randn(K, 5, 3, generator=g, dtype=dtype),
             "b": torch.randn(K, 3, generator=g, dtype=dtype) * 3}
    if nan_member is not None:
        for v in grads.values():
            v[nan_member] = float("nan")
    return grads


def _active(step):
    """Member 3 stops at step 3; member 1 is out at steps 2 and 5 (a stopped member's
    optimizer state goes on with zero gradients in the chain; its updates are dropped)."""
    a = torch.ones(K, dtype=torch.bool)
    if step >= 3:
        a[3] = False
    if step in (2, 5):
        a[1] = False
    return a


def _tensors(state):
    leaves, _ = tree_flatten(state)
    return [x for x in leaves if isinstance(x, torch.Tensor)]


def _paths(opt, dtype, steps=8):
    apply = fused_step(opt)
    assert apply is not None
    ref, fast = _params(dtype), _params(dtype)
    s_ref, s_fast = opt.init(ref), opt.init(fast)
    for step in range(steps):
        active = _active(step)
        grads = _grads(step, dtype, nan_member=3 if step >= 4 else None)  # 3 stopped: NaN
        updates, s_ref = opt.update(grads, s_ref, ref)
        with torch.no_grad():
            for n, p in ref.items():
                mask = active.view(-1, *[1] * (p.dim() - 1))
                p.add_(torch.where(mask, updates[n], torch.zeros((), dtype=dtype)))
        applied, s_fast = apply(grads, s_fast, fast, active)
        yield step, ref, fast, s_ref, s_fast, applied, active


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", sorted(_optimizers(torch.float64)))
def test_fused_step_equals_the_chain_with_masked_members(name, dtype):
    opt = _optimizers(dtype)[name]
    frozen = None
    # float32: a rounding or two of θ ≈ 1 apart (the passes round in another order)
    rtol, atol = (1e-6, 1e-9) if dtype == torch.float64 else (1e-5, 1e-6)
    for step, ref, fast, s_ref, s_fast, applied, active in _paths(opt, dtype):
        for n in ref:
            torch.testing.assert_close(fast[n], ref[n], rtol=rtol, atol=atol,
                                       msg=f"{name} {n} step {step}")
            # what was added: finite, zero for the members that are out
            assert torch.all(applied[n][~active] == 0)
        if step == 3:
            frozen = {n: p[3].clone() for n, p in fast.items()}
        if step > 3:  # member 3 is out (and its gradients NaN): bit for bit unchanged
            for n, p in fast.items():
                assert torch.equal(p[3], frozen[n])
        finite = [torch.nan_to_num(t, nan=0.0) for t in _tensors(s_ref)]
        for a, b in zip(_tensors(s_fast), finite):
            if a.is_floating_point():
                torch.testing.assert_close(torch.nan_to_num(a, nan=0.0), b, rtol=rtol,
                                           atol=atol, msg=f"{name} state step {step}")


def test_chains_without_a_fused_form_keep_the_generic_path():
    base = sgd(0.1)
    assert fused_step(chain(adam(1e-3), scale_by_mask({"flat": torch.ones(1, 3)}))) is None
    assert fused_step(decoupled_weight_decay(base, 0.1, 0.1)) is None
    assert fused_step(Transform(base.init, base.update)) is None
    assert fused_step(add_decayed_weights(0.1)) is None
    assert fused_step(chain(adam(1e-3), scale_by_schedule(lambda t: 1.0 / t))) is not None
    for name in ("sgd", "momentum", "heavy_ball", "nesterov", "adam", "adamw", "rmsprop",
                 "adagrad"):
        assert fused_step(build_optimizer(name, lr=1e-3)) is not None, name


def test_keep_only_zeroes_rows_bit_for_bit():
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        u = torch.tensor([[1.5, -2.0], [float("nan"), float("inf")], [-0.0, 3.0]], dtype=dtype)
        want = u.clone()
        keep_only_(u, torch.tensor([True, False, True]))
        assert torch.equal(u[1], torch.zeros(2, dtype=dtype))
        assert torch.equal(u[0], want[0]) and torch.equal(u[2], want[2])
    p = {"x": torch.ones(2, 2)}
    masked_add_(p, {"x": torch.full((2, 2), float("nan"))}, torch.tensor([False, False]))
    assert torch.equal(p["x"], torch.ones(2, 2))


LR = [1e-3, 1e-2, 3e-2]


def _torch_parity(opt, make_torch, steps=40):
    """The fused path (every member active) against one torch optimizer per member."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(32, 5, generator=g, dtype=torch.float64)
    y = torch.randn(32, 1, generator=g, dtype=torch.float64)
    theta0 = {"W1": torch.randn(3, 5, 8, generator=g, dtype=torch.float64) * 0.5,
              "W2": torch.randn(3, 8, 1, generator=g, dtype=torch.float64) * 0.5}

    def loss(p):
        return ((torch.tanh(X @ p["W1"]) @ p["W2"] - y) ** 2).mean(dim=(-2, -1))

    apply = fused_step(opt)
    params = {k: v.clone() for k, v in theta0.items()}
    state = opt.init(params)
    ours = []
    for _ in range(steps):
        leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        grads = dict(zip(leaves, torch.autograd.grad(loss(leaves).sum(), list(leaves.values()))))
        _, state = apply(grads, state, params, torch.ones(3, dtype=torch.bool))
        ours.append({k: v.clone() for k, v in params.items()})
    for k in range(3):
        mine = {n: torch.nn.Parameter(v[k].clone()) for n, v in theta0.items()}
        ref = make_torch(list(mine.values()), k)
        for step in range(steps):
            ref.zero_grad()
            loss(mine).backward()
            ref.step()
            for n, p in mine.items():
                torch.testing.assert_close(ours[step][n][k], p.detach(), rtol=1e-6, atol=1e-9,
                                           msg=f"member {k}, {n}, step {step + 1}")


def test_fused_adam_matches_torch_adam():
    _torch_parity(adam(torch.tensor(LR, dtype=torch.float64)),
                  lambda p, k: torch.optim.Adam(p, lr=LR[k]))


def test_fused_adamw_matches_torch_adamw():
    _torch_parity(adamw(torch.tensor(LR, dtype=torch.float64), weight_decay=0.5),
                  lambda p, k: torch.optim.AdamW(p, lr=LR[k], weight_decay=0.5))


def test_fused_heavy_ball_and_nesterov_match_torch_sgd():
    _torch_parity(heavy_ball(torch.tensor(LR, dtype=torch.float64), 0.9),
                  lambda p, k: torch.optim.SGD(p, lr=LR[k], momentum=0.9))
    _torch_parity(nesterov(torch.tensor(LR, dtype=torch.float64), 0.9),
                  lambda p, k: torch.optim.SGD(p, lr=LR[k], momentum=0.9, nesterov=True))


def _data(n=160, d=8, c=3):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, d, generator=g)
    return X, X[:, :c].argmax(1)


@pytest.mark.parametrize("make", [lambda: adam(3e-3), lambda: adamw(3e-3, weight_decay=0.1),
                                  lambda: heavy_ball(torch.tensor([0.05, 0.1, 0.02]), 0.9)])
def test_fit_on_the_fused_path_equals_fit_on_the_chain(make):
    X, y = _data()
    kw = dict(epochs=3, batch_size=32, members=3, progress=False, device="cpu", seed=4)
    opt = make()
    fast = netrx.fit(mlp(8, [16], 3, batch_norm=True), (X, y), optimizer=opt, **kw)
    generic = Transform(opt.init, opt.update)  # no kernel, no parts: the chain as it is
    slow = netrx.fit(mlp(8, [16], 3, batch_norm=True), (X, y), optimizer=generic, **kw)
    torch.testing.assert_close(fast.population.flat, slow.population.flat, rtol=1e-5, atol=1e-6)
    for n, b in fast.population.buffers.items():
        torch.testing.assert_close(b, slow.population.buffers[n], rtol=1e-5, atol=1e-6)
    assert math.isclose(float(fast.metric("train_loss")[-1].sum()),
                        float(slow.metric("train_loss")[-1].sum()), rel_tol=1e-5)
