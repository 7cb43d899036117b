"""Per-member random streams: member k draws from its own seed and step counter only.

Every random draw of training (dropout, input dropout and DropConnect masks, every
augmentation) is a pure function of the member's seed seed_k, its step counter t_k (the
training-mode forward passes it has made: one per step of ``fit``), a stream id and the
element's index. So member k of a population draws exactly what the single run with seed
seed_k draws, whatever K is and whoever its neighbours are, and a member that is restarted
(:meth:`MemberStreams.reset`, called by ``Population.reinit_member``) draws what a fresh
run with its new seed draws.

The generator is counter-based, built from SplitMix64 (Steele, Lea & Flood 2014), whose
output for state s is mix(s + γ) with γ = 0x9E3779B97F4A7C15 and the finaliser

    mix(z): z ^= z ≫ 30; z *= 0xBF58476D1CE4E5B9; z ^= z ≫ 27; z *= 0x94D049BB133111EB;
            z ^= z ≫ 31                      (64-bit wrapping arithmetic, ≫ logical)

- member key   m_k       = mix(seed_k + γ)
- step key     key_{k,t} = mix(m_k + (t + 1)·γ)               (t: member k's step counter)
- element i of stream s:
  u = (top 24 bits of mix(key_{k,t} + (s·2⁴⁰ + i + 1)·γ)) / 2²⁴ ∈ [0, 1)

i.e. the step key is output t + 1 of a SplitMix64 generator seeded with m_k, and a
stream's draws are the outputs s·2⁴⁰ + i + 1 of one seeded with the step key: distinct
(stream, element) pairs never share an input. i runs over the member's own elements
(row-major), so a draw of shape [K, B, ...] outside vmap and a per-member draw of shape
[B, ...] under vmap or at K = 1 give member k the same numbers. Bernoulli(q) is u < q,
an integer in {lo..hi} is lo + ⌊u·(hi − lo + 1)⌋, a standard normal is Box–Muller,
√(−2 ln(1 − u₁))·cos(2π u₂), on two uniforms from element i's full SplitMix64 output:
u₁ from its top 24 bits (the u above), u₂ from its bits 8 .. 31.

Stream ids: 1 ... :data:`LAYER_STREAMS` − 1 belong to data augmentation
(:mod:`netrx.data.augment`); :func:`number_layers` gives the i-th random layer of a model
(a module with ``draws_random = True``) the id ``LAYER_STREAMS + i``.

The draws are tensor operations on the key's device (about fifteen elementwise passes
over int64, no host sync) and work under ``torch.func.vmap`` (the key is then the member's
0-d slice). Outside a :func:`drawing` scope the helpers fall back to torch's global
generator, so a layer used on its own still works as before.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn

_U64 = 1 << 64


def _s64(c: int) -> int:
    """A 64-bit unsigned constant as the int64 with the same bits."""
    c %= _U64
    return c - _U64 if c >= 1 << 63 else c


GAMMA = _s64(0x9E3779B97F4A7C15)  # γ = 2⁶⁴/φ, odd: the Weyl increment
_M1 = _s64(0xBF58476D1CE4E5B9)
_M2 = _s64(0x94D049BB133111EB)
_BITS = 24  # bits per uniform: exact in float32
#: stream ids from here on are the random layers' (below: data augmentation)
LAYER_STREAMS = 1 << 12

#: the key of the current draw, per thread (a thread-local rather than a ContextVar:
#: torch.compile traces its reads and writes into the graph; it cannot trace ContextVar.set)
_LOCAL = threading.local()


def _current() -> Tensor | None:
    return getattr(_LOCAL, "key", None)


def _xorshift_(z: Tensor, s: int) -> Tensor:
    """z ^= z ≫ s (logical shift: torch's ≫ on int64 is arithmetic, so mask the sign)."""
    return z.bitwise_xor_((z >> s).bitwise_and_((1 << (64 - s)) - 1))


def mix_(z: Tensor, *, last: bool = True) -> Tensor:
    """SplitMix64's finaliser, in place on an int64 tensor (``last=False`` skips the final
    xorshift, which leaves the top 33 bits as they are)."""
    z = _xorshift_(z, 30).mul_(_M1)
    z = _xorshift_(z, 27).mul_(_M2)
    return _xorshift_(z, 31) if last else z


def mix(z: Tensor) -> Tensor:
    """SplitMix64's finaliser of an int64 tensor, as a new tensor."""
    return mix_(z.clone())


def member_key(seeds: Tensor) -> Tensor:
    """m_k = mix(seed_k + γ), int64, same shape as ``seeds``."""
    return mix_(seeds + GAMMA)


def step_key(member: Tensor, steps: Tensor) -> Tensor:
    """key_{k,t} = mix(m_k + (t + 1)·γ)."""
    return mix_(torch.add(member + GAMMA, steps, alpha=GAMMA))


@contextlib.contextmanager
def drawing(key: Tensor | None) -> Iterator[None]:
    """Draw from ``key`` inside the block: a [K] step key (batches [K, B, ...]) or a member's
    0-d key (its own tensors, under vmap or at K = 1). ``None`` means torch's generator."""
    outer = _current()
    _LOCAL.key = key
    try:
        yield
    finally:
        _LOCAL.key = outer


def _hash(key: Tensor, shape: Sequence[int], stream: int, device: torch.device, *,
          last: bool) -> Tensor:
    """mix(key + (stream·2⁴⁰ + i + 1)·γ) for the member elements i of ``shape`` (whose
    leading ``key.dim()`` sizes are the key's), int64 of ``shape``."""
    lead = key.dim()
    if tuple(shape[:lead]) != tuple(key.shape):
        raise ValueError(f"a draw of shape {tuple(shape)} does not start with the member "
                         f"dimensions {tuple(key.shape)} of the key")
    n = math.prod(shape[lead:])
    base = key + _s64(((stream << 40) + 1) * (GAMMA % _U64))
    z = torch.add(base.unsqueeze(-1), torch.arange(n, device=device), alpha=GAMMA)
    return mix_(z, last=last).view(*shape)


def _field(z: Tensor, low: int) -> Tensor:
    """Bits low .. low + 23 of z, as an int64 in [0, 2²⁴)."""
    return (z >> low).bitwise_and_((1 << _BITS) - 1)


def _bits(key: Tensor, shape: Sequence[int], stream: int, device: torch.device) -> Tensor:
    """The top 24 bits of each element's hash (the final xorshift leaves them alone)."""
    return _field(_hash(key, shape, stream, device, last=False), 64 - _BITS)


def _float(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def uniform(shape: Sequence[int], stream: int, *, device: torch.device | str,
            dtype: torch.dtype = torch.float32) -> Tensor:
    """U[0, 1) draws of ``shape`` from the current key (see the module docstring), or
    ``torch.rand`` outside a :func:`drawing` scope."""
    key = _current()
    if key is None:
        return torch.rand(*shape, device=device, dtype=dtype)
    u = _bits(key, shape, stream, torch.device(device)).to(_float(dtype))
    return u.mul_(2.0 ** -_BITS).to(dtype)


def uniform_like(t: Tensor, stream: int) -> Tensor:
    """:func:`uniform` of ``t``'s shape, device and dtype (``torch.rand_like`` outside a scope)."""
    if _current() is None:
        return torch.rand_like(t)
    return uniform(t.shape, stream, device=t.device, dtype=t.dtype)


def bernoulli_like(t: Tensor, q: Tensor | float, stream: int) -> Tensor:
    """A bool mask of ``t``'s shape, true with probability ``q``: u < q, computed on the
    24 bits as b < q·2²⁴ (``torch.rand_like(t) < q`` outside a scope)."""
    key = _current()
    if key is None:
        return torch.rand_like(t) < q
    if isinstance(q, Tensor):
        q = q.to(_float(q.dtype))  # q·2²⁴ overflows float16
    return _bits(key, t.shape, stream, t.device) < q * float(1 << _BITS)


def normal_like(t: Tensor, stream: int) -> Tensor:
    """N(0, 1) draws of ``t``'s shape by Box–Muller (``torch.randn_like`` outside a scope)."""
    key = _current()
    if key is None:
        return torch.randn_like(t)
    z = _hash(key, t.shape, stream, t.device, last=True)
    scale, f = 2.0 ** -_BITS, _float(t.dtype)
    u1 = _field(z, 64 - _BITS).to(f).mul_(scale)
    u2 = _field(z, 8).to(f).mul_(2 * math.pi * scale)
    return torch.log1p(-u1).mul_(-2.0).sqrt_().mul_(torch.cos_(u2)).to(t.dtype)


def integers(low: int, high: int, shape: Sequence[int], stream: int, *,
             device: torch.device | str) -> Tensor:
    """Integers uniform in {low .. high − 1} (int64; ``torch.randint`` outside a scope)."""
    if _current() is None:
        return torch.randint(low, high, tuple(shape), device=device)
    u = uniform(shape, stream, device=device, dtype=torch.float64)
    return torch.floor(u * (high - low)).long().clamp_(max=high - low - 1) + low


def number_layers(module: nn.Module) -> int:
    """Give the i-th random layer of ``module`` (``draws_random`` true, in ``modules()``
    order) the stream id ``LAYER_STREAMS + i``; returns how many there are."""
    count = 0
    for m in module.modules():
        if getattr(m, "draws_random", False):
            m.stream = LAYER_STREAMS + count
            count += 1
    return count


class MemberStreams:
    """The state of K members' streams on the population's device: ``seeds`` [K] and
    ``steps`` [K] (int64). :meth:`key` is the step key of every member (cached until
    :meth:`advance`, which every training-mode forward pass of the population calls after
    its draws: in ``fit``, once per step)."""

    def __init__(self, seeds: Sequence[int], device: torch.device | str) -> None:
        self.seeds = torch.tensor([_s64(int(s)) for s in seeds], dtype=torch.int64,
                                  device=device)
        self.steps = torch.zeros_like(self.seeds)
        self._member: Tensor | None = None
        self._key: Tensor | None = None

    def key(self) -> Tensor:
        """[K] key_{k,t} for every member's current step."""
        if self._key is None:
            if self._member is None:
                self._member = member_key(self.seeds)
            self._key = step_key(self._member, self.steps)
        return self._key

    def advance(self) -> None:
        """t_k := t_k + 1 for every member (an in-place add on the device)."""
        self.steps.add_(1)
        self._key = None

    def reset(self, k: int, seed: int) -> None:
        """Member k starts afresh: seed ``seed``, step 0."""
        self.seeds[k] = _s64(int(seed))
        self.steps[k] = 0
        self._member = self._key = None

    def take(self, index: Sequence[int] | Tensor) -> MemberStreams:
        """The streams of the members ``index``, as a smaller population carries them on."""
        out = object.__new__(MemberStreams)
        index = torch.as_tensor(index, device=self.seeds.device)
        out.seeds, out.steps = self.seeds[index].clone(), self.steps[index].clone()
        out._member = out._key = None
        return out

    def state_dict(self) -> dict[str, Tensor]:
        return {"seeds": self.seeds.cpu(), "steps": self.steps.cpu()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.seeds.copy_(state["seeds"])
        self.steps.copy_(state["steps"])
        self._member = self._key = None
