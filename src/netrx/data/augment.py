"""Data augmentation of training batches, on the batch's device, per member and per example.

A training batch has shape [K, B, ...]: member k's B examples. Every random
draw (shift, scale, flip, angle, noise, ...) is made independently for each
member and each example, and every continuous strength may be a float or a
[K] tensor (one value per member, so that a search can vary it). Only
``fit``'s ``augment`` hook calls these; dev and test data are never augmented.
Inside ``fit`` every draw comes from the member's own stream
(:mod:`netrx.population.streams`: its seed, its step and one stream id per kind of
draw), so member k's batches are augmented exactly as in the single run with its seed,
whatever K and its neighbours; called on their own, they draw from torch's generator.

Written with plain tensor operations (``gather``, ``affine_grid``,
``grid_sample``) rather than kornia: no extra dependency, and per-member
strengths broadcast as [K, 1] tensors over a [K, B] draw.

1-D signals, x of shape [K, B, L] or [K, B, C, L] (:class:`SignalAugment`):

- time shift s ∈ {−S..S} and stretch r ~ U[1 − ρ, 1 + ρ] about the centre
  c = (L − 1)/2: x'(t) = x(c + (t − c)/r − s), linearly interpolated, 0 outside
  the signal (0 is the feature mean after standardisation);
- amplitude scale a ~ U[1 − σ_a, 1 + σ_a]: x' = a·x;
- Gaussian noise: x' = x + σ·ε, ε ~ N(0, 1).

Images, x of shape [K, B, C, H, W] (:class:`ImageAugment`), one affine warp
(bilinear, zeros outside) of: horizontal flip (probability ½), zoom
z ~ U[1 − σ_z, 1 + σ_z], rotation θ ~ U[−R, R] degrees, and an integer
translation (dx, dy) ∈ {−P..P}² — the same as padding by P and cropping back
at a random offset; then contrast c ~ U[1 − σ_c, 1 + σ_c] about the image
mean x̄: x' = x̄ + c·(x − x̄), brightness x' = x + b with b ~ U[−σ_b, σ_b], and
Gaussian noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from netrx.errors import ConfigError
from netrx.population import streams
from netrx.registry import AUGMENTATIONS

Strength = float | Tensor

# one stream id per kind of draw (ids below streams.LAYER_STREAMS are augmentation's)
_SHIFT, _STRETCH, _SCALE, _NOISE, _FLIP, _DX, _DY, _ANGLE, _ZOOM, _CONTRAST, _BRIGHTNESS = \
    range(1, 12)


def _col(h: Strength, like: Tensor, dims: int = 1) -> Strength:
    """A float, or a [K] tensor reshaped to [K, 1, ...] (``dims`` trailing ones)."""
    if isinstance(h, Tensor):
        return h.to(like.device, like.dtype).view(-1, *[1] * dims)
    return float(h)


def _uniform(shape: Sequence[int], half_width: Strength, like: Tensor, stream: int) -> Tensor:
    """U[−w, w] draws of ``shape`` [K, B] (``w`` a float or [K])."""
    u = streams.uniform(shape, stream, device=like.device, dtype=like.dtype) * 2 - 1
    return u * _col(half_width, like)


def _is_zero(h: Strength) -> bool:
    if isinstance(h, Tensor):
        return not bool((h != 0).any())
    return float(h) == 0.0


def _check(name: str, h: Strength, high: float | None = None) -> None:
    values = h.detach().flatten().tolist() if isinstance(h, Tensor) else [float(h)]
    for v in values:
        if not v >= 0 or (high is not None and v >= high) or math.isinf(v):
            bound = f"in [0, {high})" if high is not None else "a finite value ≥ 0"
            raise ConfigError(f"augment {name}={v!r} must be {bound} (0 turns it off)")


def add_noise(x: Tensor, sigma: Strength) -> Tensor:
    """x' = x + σ·ε, ε ~ N(0, 1), per element; σ a float or [K]."""
    return x + streams.normal_like(x, _NOISE) * _col(sigma, x, x.dim() - 1)


# -- 1-D signals -------------------------------------------------------------------------


def warp_signal(x: Tensor, shift: Tensor, stretch: Tensor) -> Tensor:
    """x'(t) = x(c + (t − c)/r − s) with c = (L − 1)/2, linear interpolation, 0 outside.

    x: [K, B, C, L]; shift s and stretch r: [K, B]. With r = 1 and an integer s the
    signal moves s samples to the right: x'(t) = x(t − s)."""
    L = x.shape[-1]
    t = torch.arange(L, device=x.device, dtype=x.dtype)
    c = (L - 1) / 2
    pos = c + (t - c) / stretch.unsqueeze(-1) - shift.unsqueeze(-1)  # [K, B, L]
    i0 = torch.floor(pos)
    frac = (pos - i0).unsqueeze(2)
    i0 = i0.long()
    out = torch.zeros_like(x)
    for idx, weight in ((i0, 1 - frac), (i0 + 1, frac)):
        inside = ((idx >= 0) & (idx < L)).unsqueeze(2).to(x.dtype)
        gathered = x.gather(-1, idx.clamp(0, L - 1).unsqueeze(2).expand_as(x))
        out = out + gathered * weight * inside
    return out


@dataclass
class SignalAugment:
    """Random shift (max ``shift`` samples), amplitude ``scale``, Gaussian ``noise`` and time
    ``stretch`` of 1-D signals [K, B, L] or [K, B, C, L]; strengths float or [K] (``shift``
    an int or a [K] tensor of ints)."""

    shift: int | Tensor = 0
    scale: Strength = 0.0
    noise: Strength = 0.0
    stretch: Strength = 0.0

    def __post_init__(self) -> None:
        shifts = self.shift.flatten().tolist() if isinstance(self.shift, Tensor) \
            else [self.shift]
        if any(int(v) != v or v < 0 for v in shifts):
            raise ConfigError(f"augment shift={self.shift!r} must be an integer ≥ 0 (samples)")
        _check("scale", self.scale, 1.0)
        _check("noise", self.noise)
        _check("stretch", self.stretch, 1.0)
        # which parts are on, decided once here (no device sync per batch)
        self._warp = not (_is_zero(self.shift) and _is_zero(self.stretch))
        self._scale, self._noise = not _is_zero(self.scale), not _is_zero(self.noise)

    def __call__(self, x: Tensor) -> Tensor:
        if x.dim() not in (3, 4):
            raise ConfigError(f"signal augmentation needs batches [K, B, L] or [K, B, C, L], "
                              f"got shape {tuple(x.shape)}")
        squeeze = x.dim() == 3
        x = x.unsqueeze(2) if squeeze else x
        K, B = x.shape[:2]
        if self._warp:
            S = _col(self.shift, x)  # s ~ U{−S..S}: floor(u·(2S + 1)) − S, u ~ U[0, 1)
            u = streams.uniform((K, B), _SHIFT, device=x.device, dtype=x.dtype)
            s = torch.clamp(torch.floor(u * (2 * S + 1)), max=2 * S) - S
            r = 1 + _uniform((K, B), self.stretch, x, _STRETCH)
            x = warp_signal(x, s, r)
        if self._scale:
            x = x * (1 + _uniform((K, B), self.scale, x, _SCALE)).view(K, B, 1, 1)
        if self._noise:
            x = add_noise(x, self.noise)
        return x.squeeze(2) if squeeze else x


# -- images ------------------------------------------------------------------------------


def warp_images(x: Tensor, *, flip: Tensor, angle: Tensor, zoom: Tensor, dx: Tensor,
                dy: Tensor) -> Tensor:
    """Flip (where ``flip``), zoom by z, rotate by θ degrees, translate by (dx, dy) pixels.

    x: [N, C, H, W]; parameters [N]. In pixel coordinates p about the image centre
    the output is p_out = z·R(θ)·F·p_in + (dx, dy), so each output pixel reads the input at
    p_in = F·R(−θ)·(p_out − (dx, dy))/z (bilinear, zeros outside; ``align_corners=False``,
    so integer translations and flips move whole pixels)."""
    N, _, H, W = x.shape
    rad = torch.deg2rad(angle)
    cos, sin = torch.cos(rad), torch.sin(rad)
    f = torch.where(flip, -1.0, 1.0).to(x.dtype)
    # M = F·R(−θ)/z in pixel units (x to the right, y down)
    m = torch.stack([torch.stack([f * cos, f * sin], -1),
                     torch.stack([-sin, cos], -1)], -2) / zoom.view(N, 1, 1)
    # affine_grid works in coordinates normalised to [−1, 1]: p = D·p_norm, D = diag(W/2, H/2)
    # (written with Python scalars: a tensor of W/2, H/2 would be an upload per batch)
    a = torch.stack([torch.stack([m[:, 0, 0], m[:, 0, 1] * (H / W)], -1),  # D⁻¹·M·D
                     torch.stack([m[:, 1, 0] * (W / H), m[:, 1, 1]], -1)], -2)
    t = torch.stack([dx, dy], -1).to(x.dtype)
    mt = (m @ t.unsqueeze(-1)).squeeze(-1)
    b = -torch.stack([mt[:, 0] / (W / 2), mt[:, 1] / (H / 2)], -1)  # −D⁻¹·M·t
    theta = torch.cat([a, b.unsqueeze(-1)], -1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@dataclass
class ImageAugment:
    """Random flips, crops with ``crop_padding``, rotations (±``rotate`` degrees), zoom
    (±``scale``), ``brightness`` / ``contrast`` jitter and Gaussian ``noise`` of images
    [K, B, C, H, W]; strengths float or [K]."""

    flip: bool = False
    crop_padding: int = 0
    rotate: Strength = 0.0
    scale: Strength = 0.0
    brightness: Strength = 0.0
    contrast: Strength = 0.0
    noise: Strength = 0.0

    def __post_init__(self) -> None:
        if int(self.crop_padding) != self.crop_padding or self.crop_padding < 0:
            raise ConfigError(f"augment crop_padding={self.crop_padding!r} must be an integer "
                              "≥ 0 (pixels)")
        _check("rotate", self.rotate, 180.0)
        _check("scale", self.scale, 1.0)
        _check("brightness", self.brightness)
        _check("contrast", self.contrast, 1.0)
        _check("noise", self.noise)
        self._warp = bool(self.flip) or bool(self.crop_padding) or not (
            _is_zero(self.rotate) and _is_zero(self.scale))
        self._contrast, self._brightness = not _is_zero(self.contrast), \
            not _is_zero(self.brightness)
        self._noise = not _is_zero(self.noise)

    def __call__(self, x: Tensor) -> Tensor:
        if x.dim() != 5:
            raise ConfigError(f"image augmentation needs batches [K, B, C, H, W], "
                              f"got shape {tuple(x.shape)}")
        K, B = x.shape[:2]
        P = int(self.crop_padding)
        if self._warp:
            flip = (streams.uniform((K, B), _FLIP, device=x.device) < 0.5) if self.flip \
                else torch.zeros(K, B, dtype=torch.bool, device=x.device)
            dx, dy = (streams.integers(-P, P + 1, (K, B), s, device=x.device).to(x.dtype)
                      for s in (_DX, _DY))
            angle = _uniform((K, B), self.rotate, x, _ANGLE)
            zoom = 1 + _uniform((K, B), self.scale, x, _ZOOM)
            x = warp_images(x.flatten(0, 1), flip=flip.flatten(), angle=angle.flatten(),
                            zoom=zoom.flatten(), dx=dx.flatten(), dy=dy.flatten()).view_as(x)
        if self._contrast:
            mean = x.mean(dim=(2, 3, 4), keepdim=True)
            c = (1 + _uniform((K, B), self.contrast, x, _CONTRAST)).view(K, B, 1, 1, 1)
            x = mean + c * (x - mean)
        if self._brightness:
            x = x + _uniform((K, B), self.brightness, x, _BRIGHTNESS).view(K, B, 1, 1, 1)
        return add_noise(x, self.noise) if self._noise else x


# -- presets ----------------------------------------------------------------


def resolve_preset(preset: str, input_shape: Sequence[int]) -> str:
    """``auto`` → ``signal`` for inputs [L] or [C, L], ``image`` for [C, H, W]; checks that
    an explicit preset fits the input shape (presets: :data:`~netrx.registry.AUGMENTATIONS`)."""
    AUGMENTATIONS.check(preset)
    shape = tuple(int(s) for s in input_shape)
    kind = "signal" if len(shape) in (1, 2) else "image" if len(shape) == 3 else None
    if preset == "auto":
        if kind is None:
            raise ConfigError(f"augment preset 'auto' cannot tell signals from images for "
                              f"inputs of shape {list(shape)}; use 'none'")
        return kind
    if preset != "none" and preset != kind:
        need = "[L] or [C, L]" if preset == "signal" else "[C, H, W]"
        fix = f"'auto' or {kind!r}" if kind else "'none'"
        raise ConfigError(f"augment preset {preset!r} needs inputs {need}, the data has shape "
                          f"{list(shape)}; use preset {fix}")
    return preset
