"""A population: K members of one architecture trained together.

Parameters live in one flat tensor ``flat`` of shape [K, P] (member-major);
``params[name]`` are views into it with shape [K, *shape], and each view's
``.grad`` is a view into ``flat_grad``, so that backward fills one [K, P]
gradient and an optimizer can update every parameter of every member in a
handful of fused operations. Buffers (batch-norm statistics, dropout rates)
are stacked per name, [K, ...].

The forward pass of K > 1 members goes through ``torch.func.functional_call``
under ``torch.func.vmap``. K = 1 calls the module directly, without vmap. The shortcuts of
:mod:`netrx.population.batched` compute the same function faster where they apply (the Linear
layers of an ``nn.Sequential`` as one ``baddbmm`` each; K = 1 as a plain module call).

Randomness is per member (:mod:`netrx.population.streams`): member k draws its dropout
and DropConnect masks from its own stream, a function of its seed, its step counter
(``streams.steps``: the training-mode forward passes it has made) and the layer, so that
member k equals the single run with its seed, whatever K and its neighbours are; a
member restarted by :meth:`Population.reinit_member` draws as a fresh run with its new
seed.
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from netrx.errors import ConfigError
from netrx.population.batched import LayerPlan, bind_single
from netrx.population.device import resolve_device
from netrx.population.streams import MemberStreams, drawing, number_layers

#: autograd's warning about our gradient views: they share one flat buffer on purpose,
#: and the strided grads do not "impair performance" here (silenced inside fit only)
GRAD_LAYOUT_WARNING = "grad and param do not obey the gradient layout"


#: glibc's allocator settings for training (see :func:`keep_freed_memory`)
MMAP_THRESHOLD, TRIM_THRESHOLD = 32 << 20, 256 << 20
_allocator_tuned = False


def keep_freed_memory() -> bool:
    """Let the C allocator (glibc) reuse freed blocks of up to 32 MiB instead of handing
    them back to the kernel: a training step frees and re-allocates the same multi-megabyte
    activations and gradients, and by default glibc returns part of them every step, so the
    next step page-faults its memory in again (about 1 500 faults per step at K = 64, 15 % of
    its time). Process-wide and kept after the fit (glibc has no getter to restore from):
    what it costs is that up to 256 MiB of freed memory stays with the process for reuse.
    Does nothing on other C libraries. Returns whether the settings are in place."""
    global _allocator_tuned
    if not _allocator_tuned:
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6")
            # M_MMAP_THRESHOLD = -3, M_TRIM_THRESHOLD = -1 (malloc.h); 1 means accepted
            _allocator_tuned = bool(libc.mallopt(-3, MMAP_THRESHOLD)) \
                and bool(libc.mallopt(-1, TRIM_THRESHOLD))
        except (OSError, AttributeError):
            _allocator_tuned = False
    return _allocator_tuned


@contextlib.contextmanager
def training_scope() -> Iterator[None]:
    """What training changes in the process, for its duration only: denormal floats are
    flushed to zero (relu's backward on them is about tenfold slower on CPU) and the
    gradient-layout warning is silenced; the caller's setting and warning filters are
    restored afterwards. (Also, once per process, :func:`keep_freed_memory`.)"""
    keep_freed_memory()
    flushing = bool((torch.tensor([1e-40]) * 1.0)[0] == 0)  # torch has no getter for it
    torch.set_flush_denormal(True)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=GRAD_LAYOUT_WARNING)
            yield
    finally:
        torch.set_flush_denormal(flushing)


def member_seeds(seed: int | Sequence[int], members: int) -> list[int]:
    """Member k gets seed ``seed + k``, so member k of a population equals a single run
    with that seed; an explicit list gives each member its seed."""
    if isinstance(seed, int):
        return [seed + k for k in range(members)]
    seeds = [int(s) for s in seed]
    if len(seeds) != members:
        raise ConfigError(f"{len(seeds)} seeds given for {members} members; give one per member")
    return seeds


@torch.no_grad()
def reinitialize(module: nn.Module, seed: int) -> nn.Module:
    """Draw fresh parameters for every submodule that has ``reset_parameters``, from ``seed``
    (the global RNG is forked, so the caller's random state is untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in module.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return module


class Population:
    """K members of one architecture with stacked parameters and buffers.

    Args:
        module: the architecture (any ``torch.nn.Module``); it is copied, never modified.
        members: K.
        seed: an int (member k gets ``seed + k``) or one seed per member.
        device: ``auto``, ``cpu`` or ``cuda``.
        dtype: floating dtype of parameters and floating buffers.
        reinit: draw each member's parameters from its seed (True), or copy the
            module's own parameters into every member (False, e.g. to fine-tune).
    """

    def __init__(self, module: nn.Module, members: int = 1, *, seed: int | Sequence[int] = 0,
                 device: str | torch.device = "auto", dtype: torch.dtype = torch.float32,
                 reinit: bool = True) -> None:
        if not isinstance(module, nn.Module):
            raise ConfigError(f"a population needs a torch.nn.Module, got {type(module).__name__}")
        if int(members) < 1:
            raise ConfigError(f"members={members!r}: a population needs at least 1 member")
        self.members = int(members)
        self.seeds = member_seeds(seed, self.members)
        self.device = resolve_device(device)
        self.dtype = dtype
        base = copy.deepcopy(module).cpu()
        # stream ids of the random layers, carried by every copy
        self._random_layers = number_layers(base)
        copies = [reinitialize(copy.deepcopy(base), s) if reinit else base for s in self.seeds]

        named = [(n, p) for n, p in base.named_parameters()]
        if not named:
            raise ConfigError("the model has no parameters to train")
        self.shapes = {n: tuple(p.shape) for n, p in named}
        sizes = [math.prod(s) for s in self.shapes.values()]
        self.offsets: dict[str, tuple[int, int]] = {}
        off = 0
        for (n, _), size in zip(named, sizes):
            self.offsets[n] = (off, off + size)
            off += size
        self.n_params = off  # P, per member

        K = self.members
        with torch.no_grad():
            host = torch.cat([
                torch.cat([dict(c.named_parameters())[n].detach().reshape(-1).to(dtype)
                           for n, _ in named]).unsqueeze(0) for c in copies])
        self.flat = host.to(self.device).contiguous()
        self.flat_grad = torch.zeros_like(self.flat)
        self.params: dict[str, Tensor] = {}
        for n, (a, b) in self.offsets.items():
            view = self.flat[:, a:b].view(K, *self.shapes[n]).detach().requires_grad_()
            view.grad = self.flat_grad[:, a:b].view(K, *self.shapes[n])
            self.params[n] = view
        self.buffers: dict[str, Tensor] = {}
        for n, _ in base.named_buffers():
            stacked = torch.stack([dict(c.named_buffers())[n] for c in copies])
            if stacked.is_floating_point():
                stacked = stacked.to(dtype)
            self.buffers[n] = stacked.to(self.device).contiguous()

        self.template = copy.deepcopy(base).to("meta")
        self.stopped = torch.zeros(K, dtype=torch.bool, device=self.device)
        self.diverged = torch.zeros(K, dtype=torch.bool, device=self.device)
        #: every member's random stream: seed and step counter, [K] each, on the device
        self.streams = MemberStreams(self.seeds, self.device)
        self._unread_key = torch.zeros(K, dtype=torch.int64, device=self.device)
        # (randomness "different" only matters to layers that draw from torch's generator,
        # e.g. a torch.nn.Dropout in a user's module; netrx's layers draw from the streams)
        self._vmapped = vmap(self._call, in_dims=(0, 0, 0, 0), randomness="different")
        self._vmapped_shared = vmap(self._call, in_dims=(0, 0, None), randomness="different")
        self._vmapped_shared_keyed = vmap(self._call, in_dims=(0, 0, None, 0),
                                          randomness="different")
        # faster routes to the same function (netrx.population.batched): baddbmm for the Linear
        # layers of a Sequential when K > 1, a plain module call on views of member 0 when K = 1
        self._plan = LayerPlan.build(self.template, self.params, self.buffers) if K > 1 \
            else None
        self._single = bind_single(self.template, self.params, self.buffers, self.device) \
            if K == 1 else None
        self._all_modules = [*self.template.modules(),
                         *(self._single.modules() if self._single is not None else ())]

    # -- forward -----------------------------------------------------------------
    def _call(self, params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor,
              key: Tensor | None = None) -> Tensor:
        with drawing(key):
            return functional_call(self.template, (params, buffers), (x,))

    def forward(self, x: Tensor, *, train: bool, shared: bool = False) -> Tensor:
        """Outputs [K, B, ...] for inputs [K, B, ...] (``shared=False``) or one batch
        [B, ...] seen by every member (``shared=True``). A training-mode pass draws its
        masks from every member's current stream key and then advances the members' step
        counters (``streams.advance()``); an evaluation pass draws nothing."""
        if any(m.training != train for m in self._all_modules):  # Module.train costs ~20 µs
            self.template.train(train)
            if self._single is not None:
                self._single.train(train)
        out = self._route(x, train, shared)
        if train:
            self.streams.advance()
        return out

    __call__ = forward

    def _route(self, x: Tensor, train: bool, shared: bool) -> Tensor:
        # [K]; a model without random layers gets a placeholder (nothing reads it)
        key = self.streams.key() if self._random_layers else self._unread_key
        if self._single is not None:
            with drawing(key[0]):
                return self._single(x if shared else x[0]).unsqueeze(0)
        if self._plan is not None and not shared and self._plan.usable():
            return self._plan(self.params, self.buffers, x, key)
        if self.members == 1:
            params = {n: p[0] for n, p in self.params.items()}
            buffers = {n: b[0] for n, b in self.buffers.items()}
            return self._call(params, buffers, x if shared else x[0], key[0]).unsqueeze(0)
        if not shared:
            return self._vmapped(self.params, self.buffers, x, key)
        if not train:
            return self._vmapped_shared(self.params, self.buffers, x)
        return self._vmapped_shared_keyed(self.params, self.buffers, x, key)

    @torch.no_grad()
    def predict(self, X: Tensor, *, batch_size: int = 2048) -> Tensor:
        """Eval-mode outputs of every member on shared inputs, [K, N, ...]."""
        X = X.to(self.device, self.dtype)
        outs = [self.forward(X[i:i + batch_size], train=False, shared=True)
                for i in range(0, X.shape[0], batch_size)]
        return torch.cat(outs, dim=1)

    # -- members -----------------------------------------------------------------
    @property
    def active(self) -> Tensor:
        """[K] bool: members that still train (not stopped early, not diverged)."""
        return ~(self.stopped | self.diverged)

    def member_state(self, k: int) -> dict[str, Tensor]:
        """Member k's parameters and buffers, keyed as the module's ``state_dict``."""
        if not 0 <= k < self.members:
            raise ConfigError(f"member {k} does not exist; the population has {self.members}")
        state = {n: p[k].detach().clone() for n, p in self.params.items()}
        state.update({n: b[k].clone() for n, b in self.buffers.items()})
        return state

    def member_module(self, k: int) -> nn.Module:
        """A standalone ``nn.Module`` with member k's weights (on the population's device)."""
        module = copy.deepcopy(self.template).to_empty(device=self.device)
        module.load_state_dict(self.member_state(k))
        return module.eval()

    @torch.no_grad()
    def reinit_member(self, k: int, seed: int) -> None:
        """Start member k afresh from ``seed``, as member 0 of ``Population(module, 1,
        seed=seed)`` would be: new parameters, batch-norm statistics reset (every buffer
        that ``reset_parameters`` resets); other buffers (per-member dropout rates) keep
        member k's values; its random stream restarts from ``seed`` at step 0. Clears
        ``stopped[k]`` and ``diverged[k]``; the optimizer state is the caller's (a tuner
        refilling a slot resets its rows)."""
        if not 0 <= k < self.members:
            raise ConfigError(f"member {k} does not exist; the population has {self.members}")
        module = copy.deepcopy(self.template).to_empty(device="cpu")
        for n, b in module.named_buffers():
            b.copy_(self.buffers[n][k])
        reinitialize(module, int(seed))
        params = dict(module.named_parameters())
        row = torch.cat([params[n].detach().reshape(-1).to(self.dtype) for n in self.offsets])
        self.flat[k].copy_(row)
        for n, b in module.named_buffers():
            self.buffers[n][k].copy_(b)
        self.seeds[k] = int(seed)
        self.streams.reset(k, int(seed))
        self.stopped[k] = False
        self.diverged[k] = False

    def stacked_state(self) -> dict[str, Tensor]:
        """Every parameter and buffer, stacked [K, ...], as contiguous tensors."""
        state = {n: p.detach().contiguous() for n, p in self.params.items()}
        state.update({n: b.contiguous() for n, b in self.buffers.items()})
        return state

    @torch.no_grad()
    def load_stacked_state(self, state: dict[str, Tensor]) -> None:
        """Copy a :meth:`stacked_state` back in (same architecture and K)."""
        expected = set(self.params) | set(self.buffers)
        missing, extra = expected - set(state), set(state) - expected
        if missing or extra:
            raise ConfigError(f"state does not match the population: missing {sorted(missing)}, "
                              f"unexpected {sorted(extra)}")
        for n, p in self.params.items():
            p.copy_(state[n])
        for n, b in self.buffers.items():
            b.copy_(state[n])

    def flat_mask(self, predicate: Callable[[str, tuple[int, ...]], bool]) -> Tensor:
        """A [1, P] 0/1 tensor over the flat layout: 1 on the parameters for which
        ``predicate(name, shape)`` holds (for masked transforms on ``{"flat": ...}``)."""
        mask = torch.zeros(1, self.n_params, device=self.device, dtype=self.dtype)
        for n, (a, b) in self.offsets.items():
            if predicate(n, self.shapes[n]):
                mask[:, a:b] = 1.0
        return mask

    def weight_mask(self) -> Tensor:
        """[1, P] mask of the weight matrices and kernels (rank ≥ 2): not biases, not
        batch-norm γ and β. What L2, L1, max-norm and weight decay act on."""
        return self.flat_mask(lambda name, shape: len(shape) >= 2)

    def set_buffer(self, predicate: Callable[[nn.Module], bool], buffer: str,
                   values: float | Sequence[float] | Tensor) -> int:
        """Set ``buffer`` of every submodule matching ``predicate`` to one value per member
        (e.g. the dropout rate ``p`` of every Dropout layer). Returns how many were set."""
        values = torch.as_tensor(values, dtype=self.dtype).to(self.device)
        if values.dim() == 0:
            values = values.expand(self.members)
        if values.shape != (self.members,):
            raise ConfigError(f"{buffer}: need 1 or {self.members} values, got {values.numel()}")
        count = 0
        for prefix, m in self.template.named_modules():
            if predicate(m):
                key = f"{prefix}.{buffer}" if prefix else buffer
                if key in self.buffers:
                    self.buffers[key].copy_(values.view(-1, *[1] * (self.buffers[key].dim() - 1)))
                    count += 1
        return count

    def __repr__(self) -> str:
        return (f"Population(members={self.members}, params_per_member={self.n_params}, "
                f"device={self.device}, module={self.template.__class__.__name__})")
