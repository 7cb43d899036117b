"""Named optimizers as one-line chains of primitives.

Every hyperparameter is a float or a [K] tensor (one value per member); ``lr`` may also be
a schedule t ↦ α(t) from :mod:`netrx.optim.schedules`.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from netrx.errors import ConfigError
from netrx.optim.adaptive import scale_by_adagrad, scale_by_adam, scale_by_rms
from netrx.optim.base import Hyper, Params, Transform, chain, check_hyper
from netrx.optim.ewa import ewa
from netrx.optim.lbfgs import LBFGS
from netrx.optim.transforms import (
    add_decayed_weights,
    clip_by_global_norm,
    clip_by_value,
    scale_by_lr,
    trace,
)
from netrx.registry import OPTIMIZERS

__all__ = ["CLIP_KEYS", "OPTIMIZERS", "adagrad", "adam", "adamw", "build_optimizer",
           "heavy_ball", "lbfgs", "momentum", "nesterov", "rmsprop", "sgd"]

LR = Hyper | Callable[[Tensor], Tensor]


def _check_lr(lr: LR) -> None:
    if not callable(lr) or isinstance(lr, Tensor):
        check_hyper("lr", lr, 0.0)


def _check_beta(name: str, beta: Hyper) -> None:
    check_hyper(name, beta, 0.0, 1.0, low_inclusive=True)


def sgd(lr: LR) -> Transform:
    """Plain gradient descent: θ := θ − α·g."""
    _check_lr(lr)
    return scale_by_lr(lr)


def momentum(lr: LR, beta: Hyper = 0.9, bias_correction: bool = False) -> Transform:
    """Gradient descent with momentum, the notes' form::

        V_dw := β·V_dw + (1 − β)·dw        w := w − α·V_dw

    V is the EWA of the gradients (:func:`~netrx.optim.ewa.ewa`); with
    ``bias_correction`` the step uses V/(1 − βᵗ) (the notes say it is rarely needed: after
    about 10 steps with β = 0.9 the correction is gone). ``momentum(α, β)`` follows exactly
    the path of :func:`heavy_ball` with step α·(1 − β). ``torch.optim.SGD`` with
    momentum = dampening = β runs the same recurrence but starts its buffer at the first
    gradient instead of 0 (a full first step); the paths coincide when that gradient is 0.
    """
    _check_lr(lr)
    _check_beta("beta", beta)
    return chain(ewa(beta, bias_correction), scale_by_lr(lr))


def heavy_ball(lr: LR, rho: Hyper = 0.9) -> Transform:
    """SGD + momentum in the CS231n / PyTorch form: v := ρ·v + g, θ := θ − α·v.

    Same path as the notes' :func:`momentum` with α_notes = α/(1 − ρ): v here is
    V_dw/(1 − β), so for a steady gradient its steps are 1/(1 − ρ) times longer (10× for
    ρ = 0.9). Equals ``torch.optim.SGD(lr=α, momentum=ρ)``.
    """
    _check_lr(lr)
    _check_beta("rho", rho)
    return chain(trace(rho), scale_by_lr(lr))


def nesterov(lr: LR, rho: Hyper = 0.9) -> Transform:
    """Nesterov momentum: take the step in the direction of the velocity, then the gradient
    "from there": v := ρ·v + g, θ := θ − α·(g + ρ·v). This is the PyTorch form
    (``SGD(nesterov=True)``) of CS231n's x_ahead = x + ρv update, written in the
    variable that is stored (the looked-ahead point)."""
    _check_lr(lr)
    _check_beta("rho", rho)
    return chain(trace(rho, nesterov=True), scale_by_lr(lr))


def adagrad(lr: LR, eps: Hyper = 1e-10) -> Transform:
    """AdaGrad: G := G + g², θ := θ − α·g/(√G + ε) (ε as ``torch.optim.Adagrad``)."""
    _check_lr(lr)
    check_hyper("eps", eps, 0.0, low_inclusive=True)
    return chain(scale_by_adagrad(eps), scale_by_lr(lr))


def rmsprop(lr: LR, beta: Hyper = 0.9, eps: Hyper = 1e-8) -> Transform:
    """RMSprop, the notes' form: S_dw := β·S_dw + (1 − β)·dw², w := w − α·dw/(√S_dw + ε)
    (``torch.optim.RMSprop`` with alpha = β)."""
    _check_lr(lr)
    _check_beta("beta", beta)
    check_hyper("eps", eps, 0.0, low_inclusive=True)
    return chain(scale_by_rms(beta, eps), scale_by_lr(lr))


def adam(lr: LR = 1e-3, b1: Hyper = 0.9, b2: Hyper = 0.999, eps: Hyper = 1e-8,
         bias_correction: bool = True) -> Transform:
    """Adam (Kingma & Ba), defaults of the notes: β1 = 0.9, β2 = 0.999, ε = 1e-8.

    θ := θ − α·V̂/(√Ŝ + ε); see :func:`~netrx.optim.adaptive.scale_by_adam`.
    """
    _check_lr(lr)
    _check_beta("b1", b1)
    _check_beta("b2", b2)
    check_hyper("eps", eps, 0.0, low_inclusive=True)
    return chain(scale_by_adam(b1, b2, eps, bias_correction), scale_by_lr(lr))


def adamw(lr: LR = 1e-3, b1: Hyper = 0.9, b2: Hyper = 0.999, eps: Hyper = 1e-8,
          weight_decay: Hyper = 1e-2, bias_correction: bool = True,
          mask: Params | None = None) -> Transform:
    """Adam with decoupled weight decay (Loshchilov & Hutter):
    θ := θ − α·(V̂/(√Ŝ + ε) + λ_wd·θ) = (1 − αλ_wd)·θ − α·V̂/(√Ŝ + ε).

    Unlike an L2 penalty, the decay is not divided by √Ŝ. ``mask`` (e.g. ``{"flat":
    pop.weight_mask()}``) limits the decay to the weights. Equals ``torch.optim.AdamW``.
    """
    _check_lr(lr)
    _check_beta("b1", b1)
    _check_beta("b2", b2)
    check_hyper("eps", eps, 0.0, low_inclusive=True)
    check_hyper("weight_decay", weight_decay, 0.0, low_inclusive=True)
    return chain(scale_by_adam(b1, b2, eps, bias_correction),
                 add_decayed_weights(weight_decay, mask), scale_by_lr(lr))


def lbfgs(lr: float = 1.0, history: int = 10, line_search: str | None = "armijo",
          c1: float = 1e-4, max_ls: int = 25, tolerance_grad: float = 1e-7,
          tolerance_change: float = 1e-9) -> LBFGS:
    """L-BFGS for full-batch problems (:class:`~netrx.optim.lbfgs.LBFGS`); not a Transform:
    ``netrx train --optimizer lbfgs`` runs it through a full-batch driver."""
    return LBFGS(lr=lr, history=history, line_search=line_search, c1=c1, max_ls=max_ls,
                 tolerance_grad=tolerance_grad, tolerance_change=tolerance_change)


#: keys that every first-order optimizer accepts: gradient clipping chained in front
CLIP_KEYS = ("clip_norm", "clip_value")


def build_optimizer(name: str, **hyper: object) -> Transform | LBFGS:
    """Look up an optimizer by name and build it; unknown names or keys raise ConfigError.

    ``clip_norm=c`` chains :func:`~netrx.optim.transforms.clip_by_global_norm` (per member)
    and ``clip_value=c`` :func:`~netrx.optim.transforms.clip_by_value` in front of it.
    """
    factory = OPTIMIZERS.get(name)
    clip = {k: hyper.pop(k) for k in CLIP_KEYS if k in hyper}
    mask = hyper.pop("mask", None)
    OPTIMIZERS.check_options(name, hyper, extra=CLIP_KEYS if name != "lbfgs" else ())
    if clip and name == "lbfgs":
        raise ConfigError("gradient clipping applies to first-order optimizers, not lbfgs")
    if mask is not None:
        if not OPTIMIZERS.takes(name, "mask"):
            raise ConfigError(f"optimizer {name!r} takes no decay mask")
        hyper["mask"] = mask
    opt = factory(**hyper)
    front = []
    if "clip_norm" in clip:
        check_hyper("clip_norm", clip["clip_norm"], 0.0)
        front.append(clip_by_global_norm(clip["clip_norm"]))
    if "clip_value" in clip:
        check_hyper("clip_value", clip["clip_value"], 0.0)
        front.append(clip_by_value(clip["clip_value"]))
    return chain(*front, opt) if front else opt
