"""Per-member random streams (netrx.population.streams): the generator against a NumPy
SplitMix64, its statistics, and member k of a population equal to the single run with
its seed — whatever K and its neighbours — with every stochastic regularizer on."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import netrx
from netrx.data.augment import ImageAugment, SignalAugment
from netrx.nn import Dropout, mlp
from netrx.optim import adam
from netrx.population import streams
from netrx.population.population import Population
from netrx.population.streams import MemberStreams, drawing

M1, M2, GAMMA = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0x9E3779B97F4A7C15


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser in NumPy uint64 (wrapping by definition)."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(M1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(M2)
        return z ^ (z >> np.uint64(31))


def _reference(seed: int, step: int, stream: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The module docstring's formulas, in NumPy: uniforms, and standard normals."""
    with np.errstate(over="ignore"):
        g = np.uint64(GAMMA)
        m = _mix(np.array([seed % 2**64], dtype=np.uint64) + g)
        key = _mix(m + np.uint64(step + 1) * g)
        j = (np.uint64(stream) << np.uint64(40)) + np.arange(n, dtype=np.uint64) + np.uint64(1)
        z = _mix(key + j * g)
    u1 = (z >> np.uint64(40)).astype(np.float64) / 2**24
    u2 = ((z >> np.uint64(8)) & np.uint64(2**24 - 1)).astype(np.float64) / 2**24
    return u1, np.sqrt(-2 * np.log1p(-u1)) * np.cos(2 * np.pi * u2)


def test_draws_match_a_numpy_splitmix64_bit_for_bit():
    s = MemberStreams([0, 7, -3, 2**40 + 5], "cpu")
    for step in range(3):
        with drawing(s.key()):
            got = streams.uniform((4, 1000), 9, device="cpu", dtype=torch.float64)
            normal = streams.normal_like(torch.zeros(4, 1000, dtype=torch.float64), 9)
        for k, seed in enumerate([0, 7, -3, 2**40 + 5]):
            u, z = _reference(seed, step, 9, 1000)
            np.testing.assert_array_equal(got[k].numpy(), u)
            np.testing.assert_allclose(normal[k].numpy(), z, rtol=1e-12, atol=1e-12)
        s.advance()


def test_member_draws_do_not_depend_on_the_layout():
    """A [K, B, ...] draw outside vmap, a member's 0-d key under vmap and a K = 1 draw agree."""
    s = MemberStreams([3, 4, 5], "cpu")
    key = s.key()
    with drawing(key):
        stacked = streams.uniform((3, 5, 7), 2, device="cpu")
    with drawing(key[1]):
        alone = streams.uniform((5, 7), 2, device="cpu")

    def member(k):
        with drawing(k):
            return streams.uniform((5, 7), 2, device="cpu")

    mapped = torch.vmap(member, randomness="error")(key)
    assert torch.equal(stacked[1], alone) and torch.equal(mapped, stacked)
    with drawing(MemberStreams([4], "cpu").key()):
        assert torch.equal(streams.uniform((1, 5, 7), 2, device="cpu")[0], alone)


def test_uniforms_are_uniform_and_independent():
    with drawing(MemberStreams([11], "cpu").key()):
        u = streams.uniform((1, 200_000), 1, device="cpu", dtype=torch.float64)[0].numpy()
    n = u.size
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 4 * math.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 0.002
    ks = np.max(np.abs(np.sort(u) - (np.arange(1, n + 1) - 0.5) / n))
    assert ks < 1.63 / math.sqrt(n)  # Kolmogorov–Smirnov at the 1 % level
    counts = np.bincount((u * 100).astype(int), minlength=100)
    chi2 = float(((counts - n / 100) ** 2 / (n / 100)).sum())
    assert chi2 < 150  # χ² with 99 degrees of freedom: 1 % level ≈ 135
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 4 / math.sqrt(n)  # neighbours unrelated


def test_normals_and_integers_have_their_distributions():
    key = MemberStreams([5], "cpu").key()
    with drawing(key):
        z = streams.normal_like(torch.zeros(1, 100_000, dtype=torch.float64), 3)[0].numpy()
        ints = streams.integers(-2, 3, (1, 50_000), 4, device="cpu")[0].numpy()
    n = z.size
    assert abs(z.mean()) < 4 / math.sqrt(n) and abs(z.std() - 1) < 0.01
    cdf = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in np.sort(z)])
    assert np.max(np.abs(cdf - (np.arange(1, n + 1) - 0.5) / n)) < 1.63 / math.sqrt(n)
    assert set(ints.tolist()) == {-2, -1, 0, 1, 2}
    assert np.all(np.abs(np.bincount(ints + 2) / ints.size - 0.2) < 0.01)


def test_members_steps_and_streams_draw_differently():
    s = MemberStreams([1, 2, 1], "cpu")
    with drawing(s.key()):
        a = streams.uniform((3, 4000), 1, device="cpu")
        b = streams.uniform((3, 4000), 2, device="cpu")
    s.advance()
    with drawing(s.key()):
        c = streams.uniform((3, 4000), 1, device="cpu")
    assert torch.equal(a[0], a[2])  # same seed, same step, same stream: the same draws
    for x, y in [(a[0], a[1]), (a[0], b[0]), (a[0], c[0])]:
        assert abs(float(torch.corrcoef(torch.stack([x, y]))[0, 1])) < 0.07
    s.reset(1, 1)  # member 1 restarts from seed 1 at step 0: member 0's first draws
    with drawing(s.key()):
        assert torch.equal(streams.uniform((3, 4000), 1, device="cpu")[1], a[0])


class _TwoDropouts(nn.Module):
    """Two dropout layers on the same ones (not a Sequential: the whole-module vmap route)."""

    def __init__(self, width=2000):
        super().__init__()
        self.lin = nn.Linear(1, width, bias=False)
        self.a, self.b = Dropout(0.5), Dropout(0.5)

    def forward(self, x):
        h = self.lin(x)
        return torch.cat([self.a(h), self.b(h)], -1)


def test_dropout_keeps_one_minus_p_and_layers_steps_members_differ():
    pop = Population(_TwoDropouts(), 4, seed=0, device="cpu")
    with torch.no_grad():
        pop.params["lin.weight"].fill_(1.0)
    pop.set_buffer(lambda m: isinstance(m, Dropout), "p", [0.1, 0.5, 0.5, 0.8])
    x = torch.ones(4, 8, 1)
    kept = pop.forward(x, train=True).detach() != 0  # [K, B, 2·width]
    frac = kept.float().mean((1, 2))
    torch.testing.assert_close(frac, torch.tensor([0.9, 0.5, 0.5, 0.2]), atol=0.01, rtol=0)
    a, b = kept[..., :2000], kept[..., 2000:]
    assert (a[1] != b[1]).float().mean() > 0.4  # two layers: two masks
    assert (kept[1] != kept[2]).float().mean() > 0.4  # two members, one rate: two masks
    assert (kept[1, 0] != kept[1, 1]).float().mean() > 0.4  # two examples
    again = pop.forward(x, train=True).detach() != 0
    assert (again[1] != kept[1]).float().mean() > 0.4  # the next step: new masks
    assert pop.streams.steps.tolist() == [2, 2, 2, 2]


def test_evaluation_draws_nothing(monkeypatch):
    pop = Population(mlp(6, [8], 2, dropout=0.5, input_dropout=0.2, dropconnect=0.3), 3,
                     device="cpu")

    def no_draw(*args, **kwargs):
        raise AssertionError("a draw in evaluation mode")

    monkeypatch.setattr(streams, "_bits", no_draw)
    monkeypatch.setattr(torch, "rand_like", no_draw)
    x = torch.randn(3, 5, 6)
    a, b = pop.forward(x, train=False), pop.forward(x, train=False, shared=False)
    assert torch.equal(a, b) and pop.streams.steps.tolist() == [0, 0, 0]


# -- member k against its single run ---------------------------------------------------

def _data(shape=(12,), n=96, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, *shape)).astype(np.float32)
    y = (X.reshape(n, -1)[:, :3].argmax(1)).astype(np.int64)
    return X, y


def _fit(model, data, seed, members, augment=None, epochs=2):
    return netrx.fit(model, data, members=members, seed=seed, optimizer=adam(3e-3),
                     epochs=epochs, batch_size=32, progress=False, device="cpu",
                     augment=augment).population


SIGNAL = (12,)
IMAGE = (1, 6, 6)
CASES = {
    "dropout": (SIGNAL, {"dropout": 0.5}, None),
    "input_dropout": (SIGNAL, {"input_dropout": 0.3}, None),
    "dropconnect": (SIGNAL, {"dropconnect": 0.5}, None),
    "signal_shift": (SIGNAL, {}, SignalAugment(shift=2)),
    "signal_stretch": (SIGNAL, {}, SignalAugment(stretch=0.2)),
    "signal_scale": (SIGNAL, {}, SignalAugment(scale=0.3)),
    "signal_noise": (SIGNAL, {}, SignalAugment(noise=0.2)),
    "image_flip": (IMAGE, {}, ImageAugment(flip=True)),
    "image_crop": (IMAGE, {}, ImageAugment(crop_padding=1)),
    "image_rotate": (IMAGE, {}, ImageAugment(rotate=20.0)),
    "image_zoom": (IMAGE, {}, ImageAugment(scale=0.2)),
    "image_brightness": (IMAGE, {}, ImageAugment(brightness=0.3)),
    "image_contrast": (IMAGE, {}, ImageAugment(contrast=0.3)),
    "image_noise": (IMAGE, {}, ImageAugment(noise=0.2)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_member_k_equals_its_single_run_with_each_stochastic_regularizer(case):
    shape, options, augment = CASES[case]
    data = _data(shape)
    pop = _fit(mlp(shape, [16, 16], 3, **options), data, 4, 3, augment)  # seeds 4, 5, 6
    one = _fit(mlp(shape, [16, 16], 3, **options), data, 5, 1, augment)
    torch.testing.assert_close(pop.flat[1], one.flat[0], rtol=1e-5, atol=1e-6)
    nothing = _fit(mlp(shape, [16, 16], 3), data, 5, 1)  # the regularizer did act
    assert not torch.allclose(one.flat[0], nothing.flat[0], rtol=1e-3, atol=1e-4)


def test_members_equal_their_single_runs_with_everything_on():
    data = _data()
    options = {"dropout": 0.3, "input_dropout": 0.2, "dropconnect": 0.3}
    aug = SignalAugment(shift=1, stretch=0.1, scale=0.1, noise=0.1)
    pop = _fit(mlp(SIGNAL, [16, 16], 3, **options), data, 4, 3, aug)
    for k in range(3):
        one = _fit(mlp(SIGNAL, [16, 16], 3, **options), data, 4 + k, 1, aug)
        torch.testing.assert_close(pop.flat[k], one.flat[0], rtol=1e-5, atol=1e-6)


class _Residual(nn.Module):
    """Not a Sequential: the whole-module vmap route (K > 1) and a bound module (K = 1)."""

    def __init__(self):
        super().__init__()
        self.inp, self.hidden, self.out = nn.Linear(12, 16), nn.Linear(16, 16), nn.Linear(16, 3)
        self.drop_in, self.drop = Dropout(0.2), Dropout(0.5)

    def forward(self, x):
        h = self.drop(torch.relu(self.inp(self.drop_in(x))))
        return self.out(h + torch.tanh(self.hidden(h)))


@pytest.mark.parametrize("make", [lambda: mlp(SIGNAL, [16], 3, dropout=0.5, dropconnect=0.3),
                                  _Residual], ids=["sequential", "residual"])
def test_shared_inputs_draw_member_ks_single_masks(make):
    """Training on one batch seen by every member (what the full-batch loss does)."""
    pop, one = Population(make(), 3, seed=4, device="cpu"), Population(make(), 1, seed=5,
                                                                       device="cpu")
    x = torch.randn(16, 12)
    for _ in range(2):
        torch.testing.assert_close(pop.forward(x, train=True, shared=True)[1],
                                   one.forward(x, train=True, shared=True)[0],
                                   rtol=1e-5, atol=1e-6)


def test_the_whole_module_vmap_route_gives_member_k_its_single_run():
    data = _data()
    pop = _fit(_Residual(), data, 4, 3)
    one = _fit(_Residual(), data, 5, 1)
    assert pop._plan is None and one._single is not None
    torch.testing.assert_close(pop.flat[1], one.flat[0], rtol=1e-5, atol=1e-6)


def test_a_member_does_not_depend_on_its_neighbours():
    data = _data()
    options = {"dropout": 0.5, "input_dropout": 0.2, "dropconnect": 0.3}
    aug = SignalAugment(shift=1, scale=0.1, noise=0.1)
    runs = [(_fit(mlp(SIGNAL, [16, 16], 3, **options), data, seeds, len(seeds), aug), k)
            for seeds, k in [([5, 6, 7], 1), ([50, 6, 70], 1), ([1, 2, 3, 6, 9], 3)]]
    ref = runs[0][0].flat[1]
    for pop, k in runs[1:]:
        torch.testing.assert_close(pop.flat[k], ref, rtol=1e-5, atol=1e-6)


def test_reinit_member_restarts_it_as_a_fresh_single_run():
    data = _data()
    options = {"dropout": 0.5, "dropconnect": 0.3}
    aug = SignalAugment(shift=1, noise=0.1)
    pop = _fit(mlp(SIGNAL, [16, 16], 3, **options), data, 4, 3, aug, epochs=1)
    pop.reinit_member(1, 11)
    assert pop.streams.steps.tolist() == [3, 0, 3]
    pop = _fit(pop, data, None, None, aug)  # the others go on from step 3
    one = _fit(mlp(SIGNAL, [16, 16], 3, **options), data, 11, 1, aug)
    torch.testing.assert_close(pop.flat[1], one.flat[0], rtol=1e-5, atol=1e-6)


def test_a_smaller_population_carries_its_members_streams_on():
    """What SlotPopulation.compact does: the survivors keep drawing their own masks."""
    model = mlp(SIGNAL, [32, 32], 3, dropout=0.5, dropconnect=0.4)
    big = Population(model, 4, seed=[3, 8, 5, 9], device="cpu")
    x = torch.randn(4, 16, 12)
    for _ in range(2):
        big.forward(x, train=True)
    small = Population(model, 2, seed=[0, 0], device="cpu")
    keep = [3, 1]
    with torch.no_grad():
        small.flat.copy_(big.flat[keep])
    small.streams = big.streams.take(keep)
    torch.testing.assert_close(small.forward(x[keep], train=True),
                               big.forward(x, train=True)[keep], rtol=1e-5, atol=1e-6)
    assert small.streams.steps.tolist() == [3, 3]


def test_bernoulli_masks_are_uniforms_below_q():
    key = MemberStreams([2, 3], "cpu").key()
    t = torch.zeros(2, 3000, 10)
    q = torch.tensor([0.3, 0.8]).view(2, 1, 1)
    with drawing(key):
        mask = streams.bernoulli_like(t, q, 5)
        u = streams.uniform(t.shape, 5, device="cpu")
    assert torch.equal(mask, u < q)
    torch.testing.assert_close(mask.float().mean((1, 2)), torch.tensor([0.3, 0.8]),
                               atol=0.02, rtol=0)
