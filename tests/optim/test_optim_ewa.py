"""The exponentially weighted average of the notes, its bias correction, and why Adam and
momentum need the correction."""

import numpy as np
import pytest
import torch

from netrx.optim import adam, apply_updates, ewa, momentum


def _average(series, beta, bias_correction):
    """Run ``ewa`` over a [T, K, D] series; returns the [T, K, D] outputs."""
    t = ewa(beta, bias_correction)
    state = t.init({"x": series[0]})
    return torch.stack([t.update({"x": x}, state)[0]["x"].clone() for x in series])


def test_v100_is_the_notes_exponentially_decaying_sum():
    """v_100 = 0.1θ_100 + 0.1·0.9·θ_99 + 0.1·0.9²·θ_98 + … (v_0 = 0, so the sum is exact)."""
    theta = torch.randn(100, 1, 1, dtype=torch.float64) * 10 + 20
    v = _average(theta, 0.9, bias_correction=False)
    expansion = sum(0.1 * 0.9 ** j * float(theta[99 - j]) for j in range(100))
    assert float(v[-1]) == pytest.approx(expansion, rel=1e-12)


def test_bias_corrected_estimate_at_t2_is_the_notes_worked_example():
    """β = 0.98: v_2/(1 − 0.98²) = (0.0196θ1 + 0.02θ2)/0.0396."""
    theta = torch.tensor([[[40.0]], [[49.0]]], dtype=torch.float64)
    corrected = _average(theta, 0.98, bias_correction=True)
    raw = _average(theta, 0.98, bias_correction=False)
    t1, t2 = 40.0, 49.0
    assert float(raw[1]) == pytest.approx(0.0196 * t1 + 0.02 * t2, rel=1e-12)
    assert 1 - 0.98 ** 2 == pytest.approx(0.0396)
    assert float(corrected[1]) == pytest.approx((0.0196 * t1 + 0.02 * t2) / 0.0396, rel=1e-12)
    # without the correction the early estimate is far below both values
    assert float(raw[1]) < 2.0 < t1


def test_bias_correction_makes_a_constant_series_exact_from_the_first_step():
    theta = torch.full((30, 2, 3), 7.0, dtype=torch.float64)
    corrected = _average(theta, torch.tensor([0.9, 0.999], dtype=torch.float64), True)
    torch.testing.assert_close(corrected, theta)
    raw = _average(theta, 0.9, False)
    assert float(raw[0, 0, 0]) == pytest.approx(0.7)  # (1 − β)θ_1


def test_per_member_beta():
    theta = torch.randn(50, 2, 4, dtype=torch.float64)
    both = _average(theta, torch.tensor([0.5, 0.95], dtype=torch.float64), True)
    for k, beta in enumerate([0.5, 0.95]):
        alone = _average(theta[:, k:k + 1], beta, True)
        torch.testing.assert_close(both[:, k:k + 1], alone)


def _first_steps(opt, g=0.3, steps=10):
    params = {"w": torch.zeros(1, 1, dtype=torch.float64)}
    state = opt.init(params)
    sizes = []
    for _ in range(steps):
        before = params["w"].clone()
        updates, state = opt.update({"w": torch.full((1, 1), g, dtype=torch.float64)}, state,
                                    params)
        apply_updates(params, updates)
        sizes.append(float((params["w"] - before).abs()))
    return np.array(sizes)


def test_uncorrected_momentum_takes_visibly_smaller_first_steps():
    """V starts at 0, so without the correction the first step is (1 − β) = 10× too short;
    V/(1 − βᵗ) gives the full step α·g from the start."""
    lr, g = 0.1, 0.3
    raw = _first_steps(momentum(lr, 0.9), g)
    corrected = _first_steps(momentum(lr, 0.9, bias_correction=True), g)
    np.testing.assert_allclose(corrected, lr * g, rtol=1e-12)
    np.testing.assert_allclose(raw, lr * g * (1 - 0.9 ** np.arange(1, 11)), rtol=1e-12)
    assert raw[0] == pytest.approx(corrected[0] / 10)


def test_why_adam_needs_bias_correction():
    """Both of Adam's moments start at 0. With the correction, a steady gradient gives steps
    of exactly α from the first one. Without it the first moment alone would make the steps
    too small (as in momentum), but the second moment, divided under a square root and
    with β2 = 0.999 ≫ β1, is biased much more: V/√S = (1 − β1ᵗ)/√(1 − β2ᵗ) = 0.1/√0.001
    = 3.16 at t = 1 — the uncorrected first steps are 3 to 6.5 times too LARGE (CS231n:
    "to avoid a very large step at the beginning")."""
    lr = 1e-3
    corrected = _first_steps(adam(lr))
    raw = _first_steps(adam(lr, bias_correction=False))
    np.testing.assert_allclose(corrected, lr, rtol=1e-6)
    t = np.arange(1, 11)
    g = 0.3
    np.testing.assert_allclose(raw, lr * (1 - 0.9 ** t) * g / (np.sqrt(1 - 0.999 ** t) * g
                                                                + 1e-8), rtol=1e-9)
    assert raw[0] == pytest.approx(3.162 * lr, rel=1e-3)
    assert (raw > 3 * corrected).all()
    # with β1 > β2 the first moment's bias wins: uncorrected steps become too small
    small = _first_steps(adam(lr, b1=0.99, b2=0.9, bias_correction=False))
    assert small[0] == pytest.approx(lr * 0.01 / np.sqrt(0.1), rel=1e-5)
    assert (small < corrected).all()
