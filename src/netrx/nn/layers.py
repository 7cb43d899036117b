"""Layers that work member-wise inside a population.

Inside a population each member sees its own slice of every parameter and
buffer (``torch.func.vmap`` over the stacked member dimension), so a buffer
such as the dropout rate ``p`` can differ from member to member. Random masks
come from the member's own stream (:mod:`netrx.population.streams`: its seed,
its step and the layer's stream id), so member k draws the masks of the single
run with its seed whatever the population around it; a layer used on its own,
outside a population, draws from torch's global generator.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from netrx.nn.init import init_weight_
from netrx.population.streams import LAYER_STREAMS, bernoulli_like


class NamedInit:
    """Mixin: ``reset_parameters`` draws W by the rule in ``init_rule`` and sets b = 0."""

    init_rule: str = "he"

    def reset_parameters(self) -> None:
        init_weight_(self.weight, self.init_rule)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class Linear(NamedInit, nn.Linear):
    """z = W a + b with W initialised by a named rule (he, xavier, lecun, glorot), b = 0."""

    def __init__(self, in_features: int, out_features: int, *, init: str = "he",
                 bias: bool = True) -> None:
        self.init_rule = init
        super().__init__(in_features, out_features, bias=bias)


class Conv1d(NamedInit, nn.Conv1d):
    """1-D convolution with a named initialisation rule (fan-in = in_channels × kernel)."""

    def __init__(self, *args, init: str = "he", **kwargs) -> None:
        self.init_rule = init
        super().__init__(*args, **kwargs)


class Conv2d(NamedInit, nn.Conv2d):
    """2-D convolution with a named initialisation rule (fan-in = in_channels × kh × kw)."""

    def __init__(self, *args, init: str = "he", **kwargs) -> None:
        self.init_rule = init
        super().__init__(*args, **kwargs)


class Dropout(nn.Module):
    """Inverted dropout with drop rate p = 1 − keep_prob held in a buffer (one per member).

    Training: d ~ Bernoulli(keep_prob); a := a ⊙ d / keep_prob, so E[a] is
    unchanged and nothing needs rescaling at test time. Evaluation: identity
    (nothing is drawn).
    """

    draws_random = True
    stream = LAYER_STREAMS  # the population numbers its random layers (number_layers)

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            from netrx.errors import ConfigError

            raise ConfigError(f"dropout rate {p!r} must be in [0, 1); it is 1 − keep_prob")
        self.register_buffer("p", torch.tensor(float(p)))

    def forward(self, a: Tensor) -> Tensor:
        if not self.training:
            return a
        keep = 1.0 - self.p
        return a * bernoulli_like(a, keep, self.stream) / keep

    def extra_repr(self) -> str:
        return f"p={float(self.p) if self.p.dim() == 0 and not self.p.is_meta else 'per member'}"


class InputDropout(Dropout):
    """Inverted dropout on the network's input features (its own per-member rate ``p``)."""


class DropConnect(Linear):
    """A Linear layer whose weights, not activations, are dropped (Wan et al. 2013).

    Training: M ~ Bernoulli(keep_prob) of W's shape, z = (W ⊙ M / keep_prob) a + b,
    one mask per mini-batch and member (the paper draws one per example, which
    costs a [B, out, in] mask); the bias is not masked. Since E[W ⊙ M / keep_prob]
    = W, evaluation uses W unchanged: the mean network, not the paper's Gaussian
    moment-matching inference. The drop rate p = 1 − keep_prob is a buffer (one
    per member).
    """

    draws_random = True
    stream = LAYER_STREAMS

    def __init__(self, in_features: int, out_features: int, *, p: float = 0.5,
                 init: str = "he", bias: bool = True) -> None:
        if not 0.0 <= p < 1.0:
            from netrx.errors import ConfigError

            raise ConfigError(f"DropConnect rate {p!r} must be in [0, 1); it is 1 − keep_prob")
        super().__init__(in_features, out_features, init=init, bias=bias)
        self.register_buffer("p", torch.tensor(float(p)))

    def forward(self, a: Tensor) -> Tensor:
        if not self.training:
            return nn.functional.linear(a, self.weight, self.bias)
        keep = 1.0 - self.p
        w = self.weight * bernoulli_like(self.weight, keep, self.stream) / keep
        return nn.functional.linear(a, w, self.bias)


class BatchNorm(nn.Module):
    """Batch normalisation over every dimension but the feature dimension 1.

    Training, on the mini-batch: μ = mean z, σ² = mean (z − μ)²,
    z_norm = (z − μ)/√(σ² + ε), z̃ = γ·z_norm + β. The running statistics
    used at test time are exponentially weighted averages of the batch ones,
    v := (1 − m)·v + m·batch_stat with m = ``momentum`` (β = 1 − m in the
    notes' EWA); the running variance uses the unbiased batch variance, as
    ``torch.nn.BatchNorm1d`` does.
    """

    def __init__(self, num_features: int, *, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))  # γ
        self.bias = nn.Parameter(torch.zeros(num_features))  # β
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)
        nn.init.zeros_(self.bias)
        self.running_mean.zero_()
        self.running_var.fill_(1.0)

    def forward(self, z: Tensor) -> Tensor:
        shape = [1, self.num_features] + [1] * (z.dim() - 2)
        if self.training:
            dims = [0] + list(range(2, z.dim()))
            mu = z.mean(dims)
            var = z.var(dims, unbiased=False)
            n = z.numel() // self.num_features
            with torch.no_grad():
                m = self.momentum  # (mul_, add_) have vmap batching rules; lerp_ has none
                self.running_mean.mul_(1 - m).add_(mu.detach() * m)
                self.running_var.mul_(1 - m).add_(var.detach() * (m * n / max(n - 1, 1)))
        else:
            mu, var = self.running_mean, self.running_var
        z_norm = (z - mu.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return self.weight.view(shape) * z_norm + self.bias.view(shape)


class AddChannel(nn.Module):
    """[B, L] -> [B, 1, L]: a 1-D signal as a one-channel sequence."""

    def forward(self, x: Tensor) -> Tensor:
        return x.unsqueeze(1) if x.dim() == 2 else x
