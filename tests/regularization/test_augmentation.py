"""Augmentation of [K, B, ...] batches: each transform against a hand computation, per-member
randomness and strengths, shapes and devices, presets, and never at evaluation."""

import numpy as np
import pytest
import torch

import netrx
from netrx.config import parse_config
from netrx.data.augment import (
    ImageAugment,
    SignalAugment,
    resolve_preset,
    warp_images,
    warp_signal,
)
from netrx.errors import ConfigError
from netrx.experiment.build import augment_from_config
from netrx.nn import mlp
from netrx.optim import sgd
from netrx.population.population import Population


def test_integer_shift_moves_the_signal_and_fills_zeros():
    x = torch.randn(2, 3, 1, 10, dtype=torch.float64)
    s = torch.tensor([[0, 2, -3], [1, 9, -1]], dtype=torch.float64)
    out = warp_signal(x, s, torch.ones(2, 3, dtype=torch.float64))
    for k in range(2):
        for b in range(3):
            shift = int(s[k, b])
            want = np.zeros(10)
            src = x[k, b, 0].numpy()
            for t in range(10):  # x'(t) = x(t − s), 0 outside
                if 0 <= t - shift < 10:
                    want[t] = src[t - shift]
            np.testing.assert_allclose(out[k, b, 0].numpy(), want, rtol=0, atol=1e-12)


def test_time_stretch_about_the_centre_interpolates_linearly():
    L = 21
    c = (L - 1) / 2
    ramp = (torch.arange(L, dtype=torch.float64) - c) ** 2  # a parabola about the centre
    x = ramp.expand(1, 2, 3, L).clone()  # [K, B, C, L], three equal channels
    r = torch.tensor([[1.25, 2.0]], dtype=torch.float64)
    out = warp_signal(x, torch.zeros(1, 2, dtype=torch.float64), r)
    t = np.arange(L)
    for b in range(2):
        pos = c + (t - c) / float(r[0, b])  # x'(t) = x(c + (t − c)/r)
        want = np.interp(pos, t, ramp.numpy())
        for ch in range(3):
            np.testing.assert_allclose(out[0, b, ch].numpy(), want, rtol=1e-12)


def test_signal_amplitude_scale_and_noise_per_member():
    x = torch.randn(1, 200, 40).expand(3, 200, 40).contiguous() + 3.0
    scaled = SignalAugment(scale=torch.tensor([0.0, 0.2, 0.5]))(x)
    ratio = scaled / x  # one factor a ~ U[1 − σ, 1 + σ] per example
    torch.testing.assert_close(ratio, ratio[..., :1].expand_as(ratio))
    a = ratio[..., 0]
    assert torch.equal(a[0], torch.ones(200))
    assert 0.8 <= float(a[1].min()) and float(a[1].max()) <= 1.2
    assert float(a[2].min()) < 0.6 and float(a[2].max()) > 1.4
    assert float(a[1].std()) > 0.05
    sigma = torch.tensor([0.0, 0.1, 1.0])
    noisy = SignalAugment(noise=sigma)(x)
    sd = (noisy - x).flatten(1).std(1)
    torch.testing.assert_close(sd, sigma, atol=0.02, rtol=0.03)
    assert torch.equal(x, x.clone())  # the input is left alone


def test_random_draws_differ_per_member_and_example():
    x = torch.randn(1, 1, 30).expand(4, 64, 30).contiguous()
    out = SignalAugment(shift=4, stretch=0.1)(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not torch.allclose(out[0], out[1])
    assert len({tuple(np.round(r.numpy(), 5)) for r in out[0]}) > 20
    ch = torch.randn(2, 5, 3, 30)  # [K, B, C, L]: channels move together
    out = SignalAugment(shift=3)(ch)
    for k in range(2):
        for b in range(5):
            moved = [s for s in range(-3, 4) if torch.allclose(
                out[k, b], warp_signal(ch[k:k + 1, b:b + 1], torch.tensor([[float(s)]]),
                                       torch.ones(1, 1))[0, 0])]
            assert moved


def test_per_member_max_shift_draws_uniform_integers():
    x = torch.randn(1, 1, 1, 25).expand(2, 400, 1, 25).contiguous()
    out = SignalAugment(shift=torch.tensor([0, 2]))(x)
    assert torch.equal(out[0], x[0])
    drawn = []
    for b in range(400):
        for s in range(-2, 3):
            want = warp_signal(x[1:2, b:b + 1], torch.tensor([[float(s)]]), torch.ones(1, 1))
            if torch.allclose(out[1, b], want[0, 0]):
                drawn.append(s)
                break
    assert len(drawn) == 400
    counts = np.bincount(np.array(drawn) + 2, minlength=5)
    assert counts.min() > 50  # each of −2..2 about 80 times


def test_flip_translation_rotation_and_zoom_by_hand():
    img = torch.arange(2 * 36, dtype=torch.float64).view(2, 1, 6, 6) - 30
    n = img.shape[0]
    zeros, ones = torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64)
    no = torch.zeros(n, dtype=torch.bool)

    def warp(flip=no, angle=zeros, zoom=ones, dx=zeros, dy=zeros):
        return warp_images(img, flip=flip, angle=angle, zoom=zoom, dx=dx, dy=dy)

    torch.testing.assert_close(warp(), img)
    torch.testing.assert_close(warp(flip=~no), torch.flip(img, [-1]))
    # translate by (dx, dy) = (1, −2): padding and cropping, content moves right and up
    shifted = torch.zeros_like(img)
    shifted[..., 0:4, 1:6] = img[..., 2:6, 0:5]
    torch.testing.assert_close(warp(dx=ones, dy=-2 * ones), shifted)
    # 90° turns the image clockwise (x to the right, y down)
    torch.testing.assert_close(warp(angle=90 * ones), torch.rot90(img, -1, dims=(-2, -1)))
    # zoom by 2 about the centre: a linear ramp x − c becomes (x − c)/2
    ramp = (torch.arange(6, dtype=torch.float64) - 2.5).expand(n, 1, 6, 6)
    zoomed = warp_images(ramp, flip=no, angle=zeros, zoom=2 * ones, dx=zeros, dy=zeros)
    torch.testing.assert_close(zoomed, ramp / 2)


def test_crops_are_translations_within_the_padding():
    x = torch.randn(2, 30, 1, 8, 8)
    out = ImageAugment(crop_padding=2)(x)
    assert out.shape == x.shape
    seen = set()
    for k in range(2):
        for b in range(30):
            img = x[k, b].unsqueeze(0)
            found = []
            for dx in range(-2, 3):
                for dy in range(-2, 3):
                    t = torch.tensor([float(dx)]), torch.tensor([float(dy)])
                    w = warp_images(img, flip=torch.tensor([False]), angle=torch.zeros(1),
                                    zoom=torch.ones(1), dx=t[0], dy=t[1])
                    if torch.allclose(w[0], out[k, b], atol=1e-5):
                        found.append((dx, dy))
            assert found, (k, b)
            seen.add(found[0])
    assert len(seen) > 8  # many different offsets were drawn


def test_brightness_and_contrast_jitter():
    x = torch.randn(3, 50, 1, 4, 4)
    bright = ImageAugment(brightness=torch.tensor([0.0, 0.5, 0.5]))(x)
    b = (bright - x).flatten(2)
    torch.testing.assert_close(b, b[..., :1].expand_as(b))  # one offset per image
    assert torch.equal(b[0], torch.zeros_like(b[0]))
    assert float(b[1].abs().max()) <= 0.5 and float(b[1].std()) > 0.1
    assert not torch.allclose(b[1], b[2])
    con = ImageAugment(contrast=0.3)(x)
    mean = x.mean(dim=(2, 3, 4), keepdim=True)
    c = ((con - mean) / (x - mean)).flatten(2)
    torch.testing.assert_close(c, c[..., :1].expand_as(c), rtol=1e-4, atol=1e-4)
    assert 0.7 <= float(c.min()) and float(c.max()) <= 1.3


def test_presets_and_bad_values():
    assert resolve_preset("auto", [40]) == "signal"
    assert resolve_preset("auto", [2, 40]) == "signal"
    assert resolve_preset("auto", [1, 8, 8]) == "image"
    assert resolve_preset("none", [1, 8, 8]) == "none"
    with pytest.raises(ConfigError, match="did you mean 'signal'"):
        resolve_preset("sigal", [40])
    with pytest.raises(ConfigError, match=r"needs inputs \[C, H, W\]"):
        resolve_preset("image", [40])
    with pytest.raises(ConfigError, match="integer ≥ 0"):
        SignalAugment(shift=-1)
    with pytest.raises(ConfigError, match="noise"):
        SignalAugment(noise=torch.tensor([0.1, -0.1]))
    with pytest.raises(ConfigError, match="rotate"):
        ImageAugment(rotate=200.0)
    with pytest.raises(ConfigError, match=r"\[K, B, C, H, W\]"):
        ImageAugment(flip=True)(torch.randn(2, 3, 8, 8))


def test_config_builds_per_member_noise_on_the_population_device():
    cfg = parse_config({"members": 2, "augment": {"preset": "auto", "noise": [0.0, 0.3]}})
    pop = Population(mlp(40, [4], 2), 2, device="cpu")
    aug = augment_from_config(cfg, (40,), pop)
    assert isinstance(aug, SignalAugment)
    assert aug.noise.device == pop.device and aug.noise.tolist() == pytest.approx([0.0, 0.3])
    assert augment_from_config(parse_config({}), (40,), pop) is None
    img = augment_from_config(parse_config({"augment": {"preset": "auto", "flip": True}}),
                              (1, 8, 8), pop)
    assert isinstance(img, ImageAugment) and img.flip


def test_fit_augments_training_batches_only():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 12)).astype(np.float32)
    y = X[:, :2].argmax(1).astype(np.int64)
    calls = []

    def augment(x):
        calls.append(tuple(x.shape))
        return SignalAugment(noise=5.0)(x)

    h = netrx.fit(mlp(12, [8], 2), (X, y), (X, y), optimizer=sgd(0.01), epochs=2,
                  batch_size=20, members=2, augment=augment, progress=False)
    assert calls == [(2, 20, 12)] * 6  # 3 batches × 2 epochs, [K, B, L], nothing else
    loss, err = netrx.train.evaluate(h.population, torch.as_tensor(X), torch.as_tensor(y),
                                     h.objective)
    np.testing.assert_allclose(h.metric("dev_loss")[-1], loss.numpy(), rtol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_augmentation_stays_on_the_gpu():
    x = torch.randn(2, 8, 1, 8, 8, device="cuda")
    out = ImageAugment(flip=True, crop_padding=1, rotate=10, scale=0.1, brightness=0.1,
                       contrast=0.1, noise=torch.tensor([0.1, 0.2], device="cuda"))(x)
    assert out.device == x.device
    sig = SignalAugment(shift=2, scale=0.1, noise=0.1, stretch=0.1)(torch.randn(2, 8, 40,
                                                                                device="cuda"))
    assert sig.device.type == "cuda"
