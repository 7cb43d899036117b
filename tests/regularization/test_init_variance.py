"""Initialisation rules: the sample variance of wide layers matches Var(w) within 2 %."""

import math

import pytest
import torch

from netrx.nn import Conv1d, Conv2d, Linear, mlp
from netrx.population.population import Population

# the notes' rules with n_in = n[l−1] (fan-in) and n_out = n[l] (fan-out)
RULES = {
    "he": lambda n_in, n_out: 2 / n_in,
    "xavier": lambda n_in, n_out: 1 / n_in,
    "lecun": lambda n_in, n_out: 1 / n_in,
    "glorot": lambda n_in, n_out: 2 / (n_in + n_out),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_linear_weight_variance_on_a_wide_layer(rule):
    torch.manual_seed(1)
    layer = Linear(2000, 1000, init=rule)  # W is [n_out, n_in] = [1000, 2000]
    w = layer.weight.detach().double()
    want = RULES[rule](2000, 1000)
    assert float(w.var()) == pytest.approx(want, rel=0.02)
    assert abs(float(w.mean())) < 4 * math.sqrt(want / w.numel())
    assert torch.count_nonzero(layer.bias) == 0


@pytest.mark.parametrize("rule", ["he", "glorot"])
def test_conv_fans_count_the_receptive_field(rule):
    torch.manual_seed(2)
    conv2 = Conv2d(64, 128, 5, init=rule)  # fan_in = 64·25, fan_out = 128·25
    want = RULES[rule](64 * 25, 128 * 25)
    assert float(conv2.weight.detach().double().var()) == pytest.approx(want, rel=0.02)
    conv1 = Conv1d(200, 300, 7, init=rule)
    want = RULES[rule](200 * 7, 300 * 7)
    assert float(conv1.weight.detach().double().var()) == pytest.approx(want, rel=0.02)


def test_every_population_member_draws_its_own_weights_with_the_rule():
    pop = Population(mlp(1500, [1500], 2, init="he"), 2, device="cpu")
    w = pop.params["1.weight"].detach().double()
    for k in range(2):
        assert float(w[k].var()) == pytest.approx(2 / 1500, rel=0.02)
    assert abs(float(torch.corrcoef(w.flatten(1))[0, 1])) < 0.01  # independent draws
