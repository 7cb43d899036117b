"""Shortcuts for a population's forward pass that compute the same function as vmap.

``vmap(functional_call(module))`` runs any module for K stacked members, but it pays for
that generality on every step: an ``nn.Linear`` becomes a batched matmul followed by a
separate bias add (one more pass over the [K, B, out] activations, one more node in the
backward graph), and every call re-binds the parameters. Two plain-PyTorch routes give
the same outputs and gradients:

- :class:`LayerPlan` (K > 1, an ``nn.Sequential``): each ``nn.Linear`` child is
  z = b + a·Wᵀ for all members in one ``torch.baddbmm`` (:class:`StackedLinear`:
  [K, B, in] × [K, in, out] with the bias as the added term), each plain ``nn.Conv1d``
  child on the CPU one batched product over gathered windows (:class:`StackedConv1d`), a
  pointwise activation acts on the stacked [K, B, ...] tensor as it is (a ReLU right after
  a Linear in place, on the Linear's fresh output), and any other child runs under vmap on
  its own, given each member's stream key (:mod:`netrx.population.streams`), so every layer
  still works and dropout masks are the ones the whole-module vmap draws.
- :func:`bind_single` (K = 1): a real copy of the module whose parameters and buffers are
  views of member 0's storage, so the forward pass is a plain module call.

A child with forward hooks, or any global module hook, takes the vmap route.

Which route, by rule (deterministic: the same config always takes the same route, so it
gives the same numbers). On the CPU, measured per training step at one thread: vmap turns a
convolution into one grouped convolution, which costs as much as K separate ones (the
MNIST-1D CNN at K = 16: 38 ms against 16 × 2.4 ms for K single runs); the stacked
convolution takes 17 ms. Convolutions inside other modules (the residual blocks of
``resnet1d``) keep vmap, measured at par with a loop over the members (resnet1d, width 16,
K = 4: 66 ms against 67 ms; K = 16: 247 ms against 250 ms; batch norm is most of that step),
so a population is not slower per model than its members one after the other. On CUDA the
convolutions keep vmap (cuDNN's grouped convolution; not measured here).
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


class StackedLinear(torch.autograd.Function):
    """z = b + x·Wᵀ for K members at once: x [K, B, in], W [K, out, in], b [K, out] or None.

    The forward pass is one ``baddbmm``; the backward pass computes ∂L/∂W = gᵀ·x as a
    [K, out, in] product, the layout of W itself, so that autograd adds it row by row into the
    population's flat gradient (through ``W.mT`` autograd would get the [K, in, out] product
    and add it transposed, a strided pass over every weight). Same numbers as the plain ops."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if bias is None:
            return torch.bmm(x, weight.mT)
        return torch.baddbmm(bias.unsqueeze(1), x, weight.mT)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, weight, bias = inputs
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None

    @staticmethod
    def backward(ctx, g: Tensor):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        return (torch.bmm(g, weight) if need_x else None,
                torch.bmm(g.mT, x) if need_w else None,
                g.sum(1) if ctx.has_bias and need_b else None)


class StackedConv1d(torch.autograd.Function):
    """A ``Conv1d`` (zero padding, no dilation, one group) for K members at once, as one
    batched matrix product over gathered windows (im2col), on the CPU.

    x [K, B, C, L], W [K, O, C, k], b [K, O] or None → [K, B, O, L_out]. The input is copied
    once, channels last and zero-padded, into xp [K, B, L + 2p, C]; window l of member k is
    then the contiguous run xp[k, :, s·l : s·l + k, :] of k·C values, so the window matrix
    [K, B·L_out, k·C] is one strided copy, and z = b + windows·Wᵀ one ``baddbmm`` (W read in
    (k, C) order). The backward pass adds the window gradients back with k strided adds of
    rows of C values. On the CPU this is 2–3× faster than vmap's grouped convolution (and
    than K separate ``conv1d`` calls) for the MNIST-1D CNN (bench/population.py), same
    values up to rounding. The output is a transposed view of the [K, B, L_out, O] product
    (autograd forbids acting on it in place)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, stride: int,
                padding: int) -> Tensor:
        K, B, C, L = x.shape
        n_out, k = weight.shape[1], weight.shape[3]
        Lp = L + 2 * padding
        Lout = (Lp - k) // stride + 1
        xp = x.new_empty(K, B, Lp, C)
        xp[:, :, padding:padding + L, :] = x.transpose(2, 3)
        if padding:  # the zero borders only: the rest is written once
            xp[:, :, :padding, :].zero_()
            xp[:, :, padding + L:, :].zero_()
        sk, sb, sl, _ = xp.stride()
        windows = xp.as_strided((K, B, Lout, k, C), (sk, sb, stride * sl, sl, 1)) \
            .reshape(K, B * Lout, k * C)
        w = weight.permute(0, 1, 3, 2).reshape(K, n_out, k * C)
        out = torch.baddbmm(bias.unsqueeze(1), windows, w.mT) if bias is not None \
            else torch.bmm(windows, w.mT)
        ctx.save_for_backward(windows, w)
        ctx.shape = (K, B, C, L, n_out, k, stride, padding, Lp, Lout)
        ctx.has_bias = bias is not None
        return out.view(K, B, Lout, n_out).transpose(2, 3)

    @staticmethod
    def backward(ctx, g: Tensor):
        windows, w = ctx.saved_tensors
        K, B, C, L, n_out, k, stride, padding, Lp, Lout = ctx.shape
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gm = g.transpose(2, 3).reshape(K, B * Lout, n_out)
        gw = torch.bmm(gm.mT, windows).view(K, n_out, k, C).transpose(2, 3) if need_w else None
        gb = gm.sum(1) if ctx.has_bias and need_b else None
        gx = None
        if need_x:
            gwin = torch.bmm(gm, w).view(K, B, Lout, k, C)
            gxp = g.new_zeros(K, B, Lp, C)
            end = stride * (Lout - 1) + 1
            for j in range(k):
                gxp[:, :, j:j + end:stride, :] += gwin[:, :, :, j, :]
            gx = gxp[:, :, padding:padding + L, :].transpose(2, 3)
        return gx, gw, gb, None, None


def _plain_conv1d(m: nn.Module) -> bool:
    """A Conv1d that :class:`StackedConv1d` computes: zero padding given as a number, no
    dilation, one group, the stock forward."""
    return isinstance(m, nn.Conv1d) and type(m).forward is nn.Conv1d.forward \
        and m.padding_mode == "zeros" and m.groups == 1 and m.dilation == (1,) \
        and isinstance(m.padding, tuple)


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
        self.conv1d = (f"{pre}weight", f"{pre}bias" if module.bias is not None else None,
                       module.stride[0], module.padding[0]) \
            if _plain_conv1d(module) and f"{pre}weight" in params else None
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
                return StackedLinear.apply(x, params[w], params[b] if b is not None else None), \
                    True
            if self.conv1d is not None and x.dim() == 4 and x.device.type == "cpu":
                w, b, stride, padding = self.conv1d
                return StackedConv1d.apply(x, params[w], params[b] if b is not None else None,
                                           stride, padding), False
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

