"""The learning-rate range test: the exponential grid, the suggestion rule, and a real
test on breast_cancer whose curve falls, bottoms out and rises again."""

import math

import numpy as np
import pytest

from netrx.diagnose.lr_find import grid, lr_find, suggest
from netrx.errors import ConfigError


def test_the_grid_is_exponential():
    g = grid(1e-4, 1e-1, 4)
    assert g == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])
    ratios = np.diff(np.log(grid(1e-6, 1.0, 24)))
    assert np.allclose(ratios, ratios[0])
    with pytest.raises(ConfigError):
        grid(1e-1, 1e-4)
    with pytest.raises(ConfigError):
        grid(1e-4, 1e-1, 2)


def test_the_suggestion_is_a_third_of_the_best_rate_that_lowered_the_loss():
    lrs = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    lr, rule = suggest(lrs, [0.9, 0.5, 0.2, 0.4, math.nan], initial=1.0)
    assert lr == pytest.approx(1e-2 / 3) and "α_min / 3" in rule
    assert suggest(lrs, [1.1, 1.2, math.nan, math.nan, math.nan], initial=1.0)[0] is None
    top, rule = suggest(lrs, [0.9, 0.8, 0.7, 0.6, 0.5], initial=1.0)
    assert top == pytest.approx(1.0 / 3) and "widen the range" in rule


def test_a_range_test_on_a_real_table():
    from netrx.experiment import prepare
    from netrx.recipe.plan import base_config

    cfg = base_config("breast_cancer", device="cpu")
    r = lr_find(cfg, prepare(cfg), lo=1e-6, hi=1.0, members=13, steps=30)
    losses = np.array(r.losses)
    assert r.steps >= 30 and len(r.curves) >= 1
    assert abs(losses[0] - r.initial_loss) < 0.05 * r.initial_loss  # α = 1e-6: no change
    k = int(np.nanargmin(losses))
    assert 0 < k < len(losses) - 1  # the curve bottoms out inside the range
    assert np.nanmax(losses[k:]) > 10 * losses[k]  # and rises past the edge of stability
    assert r.suggestion == pytest.approx(r.lrs[k] / 3)
