"""Shortcuts for a population's forward pass that compute the same function as vmap.

``vmap(functional_call(module))`` runs any module for K stacked members, but it pays for
that generality on every step: an ``nn.Linear`` becomes a batched matmul followed by a
separate bias add (one more pass over the [K, B, out] activations, one more node in the
backward graph), and every call re-binds the parameters. Two plain-PyTorch routes give
the same outputs and gradients:

- :class:`LayerPlan` (K > 1, an ``nn.Sequential``): each ``nn.Linear`` child is
  z = b + a·Wᵀ for all members in one ``torch.baddbmm`` ([K, B, in] × [K, in, out] with
  the bias as the added term), a pointwise activation acts on the stacked [K, B, ...]
  tensor as it is (a ReLU right after a Linear in place, on the Linear's fresh output),
  and any other child runs under vmap on its own, given each member's stream key
  (:mod:`netrx.population.streams`), so every layer still works and dropout masks are
  the ones the whole-module vmap draws.
- :func:`bind_single` (K = 1): a real copy of the module whose parameters and buffers are
  views of member 0's storage, so the forward pass is a plain module call.

A child with forward hooks, or any global module hook, takes the vmap route.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap
from torch.nn.modules import module as _module

from netrx.population.streams import drawing

#: parameter-free activations that act elementwise, so [K, B, ...] needs no vmap
POINTWISE: tuple[type[nn.Module], ...] = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.GELU,
                                          nn.ELU, nn.SiLU, nn.Softplus, nn.Identity)


def _hooked(m: nn.Module) -> bool:
    return bool(m._forward_hooks or m._forward_pre_hooks)


def _global_hooks() -> bool:
    return bool(_module._global_forward_hooks or _module._global_forward_pre_hooks)


def _same_names(module: nn.Module, params: dict[str, Tensor], buffers: dict[str, Tensor]) -> bool:
    """True if the module registers exactly the population's parameter and buffer names,
    each once (no tied weights: those keep the functional_call route)."""
    p_all = [n for n, _ in module.named_parameters(remove_duplicate=False)]
    b_all = [n for n, _ in module.named_buffers(remove_duplicate=False)]
    return (len(p_all) == len(set(p_all)) == len(params) and set(p_all) == set(params)
            and len(b_all) == len(set(b_all)) == len(buffers) and set(b_all) == set(buffers))


class _Child:
    """One child of the Sequential: its names in the population and its vmap route."""

    def __init__(self, name: str, module: nn.Module, params: dict[str, Tensor],
                 buffers: dict[str, Tensor]) -> None:
        self.module = module
        pre = f"{name}."
        self.param_keys = [(n[len(pre):], n) for n in params if n.startswith(pre)]
        self.buffer_keys = [(n[len(pre):], n) for n in buffers if n.startswith(pre)]
        self.vmapped = vmap(self._call, in_dims=(0, 0, 0, 0), randomness="different")
        direct = type(module).forward is nn.Linear.forward and isinstance(module, nn.Linear)
        self.linear = (f"{pre}weight", f"{pre}bias" if module.bias is not None else None) \
            if direct and f"{pre}weight" in params else None
        self.pointwise = type(module) in POINTWISE
        self.relu = type(module) is nn.ReLU

    def _call(self, params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor,
              key: Tensor) -> Tensor:
        with drawing(key):
            return functional_call(self.module, (params, buffers), (x,))

    def __call__(self, params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor,
                 fresh: bool, key: Tensor) -> tuple[Tensor, bool]:
        """The child's output, and whether it is a new tensor that only this pass holds
        (``fresh``: a ReLU may then act in place, sparing one [K, B, ...] allocation;
        baddbmm's backward does not need its own output, ReLU's keeps its result)."""
        if not _hooked(self.module):
            if self.linear is not None and x.dim() == 3:
                w, b = self.linear
                weight = params[w].mT  # [K, in, out]
                out = torch.baddbmm(params[b].unsqueeze(1), x, weight) if b is not None \
                    else torch.bmm(x, weight)
                return out, True
            if self.relu and fresh:
                return torch.relu_(x), False
            if self.pointwise:
                return self.module(x), False
        return self.vmapped({k: params[n] for k, n in self.param_keys},
                            {k: buffers[n] for k, n in self.buffer_keys}, x, key), False


class LayerPlan:
    """The children of an ``nn.Sequential`` template as steps over stacked members
    (see the module docstring). Build it with :meth:`build`, which returns ``None`` when
    the template is not a plain Sequential or has tied parameters."""

    def __init__(self, template: nn.Sequential, children: list[_Child]) -> None:
        self.template = template
        self.children = children

    @classmethod
    def build(cls, template: nn.Module, params: dict[str, Tensor],
              buffers: dict[str, Tensor]) -> LayerPlan | None:
        if not isinstance(template, nn.Sequential) \
                or type(template).forward is not nn.Sequential.forward \
                or not _same_names(template, params, buffers):
            return None
        return cls(template, [_Child(n, m, params, buffers)
                              for n, m in template.named_children()])

    def usable(self) -> bool:
        return not (_hooked(self.template) or _global_hooks())

    def __call__(self, params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor,
                 key: Tensor) -> Tensor:
        """Outputs [K, B, ...]; ``key`` is the members' [K] stream key."""
        fresh = False
        for child in self.children:
            x, fresh = child(params, buffers, x, fresh, key)
        return x


def bind_single(template: nn.Module, params: dict[str, Tensor], buffers: dict[str, Tensor],
                device: torch.device) -> nn.Module | None:
    """K = 1: a copy of ``template`` whose parameters are views of member 0's slices of
    ``params`` (their ``.grad`` views of the population's gradient) and whose buffers are
    views of member 0's buffers, so training it trains the population. ``None`` when a
    parameter or buffer is tied under two names (then functional_call is used)."""
    if not _same_names(template, params, buffers):
        return None
    module = copy.deepcopy(template).to_empty(device=device)
    for name, p in params.items():
        owner, _, leaf = name.rpartition(".")
        param = nn.Parameter(p.detach()[0])
        param.grad = p.grad[0]
        module.get_submodule(owner)._parameters[leaf] = param
    for name, b in buffers.items():
        owner, _, leaf = name.rpartition(".")
        module.get_submodule(owner)._buffers[leaf] = b[0]
    return module

