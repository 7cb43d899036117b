"""Named optimizers as one-line chains of primitives."""

from __future__ import annotations

from netrx.optim.base import Hyper, Transform, chain, check_hyper
from netrx.optim.transforms import scale_by_adam, scale_by_lr


def sgd(lr: Hyper) -> Transform:
    """Plain gradient descent: θ := θ − α·g."""
    check_hyper("lr", lr, 0.0)
    return scale_by_lr(lr)


def adam(lr: Hyper = 1e-3, b1: Hyper = 0.9, b2: Hyper = 0.999, eps: Hyper = 1e-8,
         bias_correction: bool = True) -> Transform:
    """Adam (Kingma & Ba), defaults of the notes: β1 = 0.9, β2 = 0.999, ε = 1e-8.

    θ := θ − α·V̂/(√Ŝ + ε); see :func:`~netrx.optim.transforms.scale_by_adam`.
    """
    check_hyper("lr", lr, 0.0)
    check_hyper("b1", b1, 0.0, 1.0, low_inclusive=True)
    check_hyper("b2", b2, 0.0, 1.0, low_inclusive=True)
    check_hyper("eps", eps, 0.0, low_inclusive=True)
    return chain(scale_by_adam(b1, b2, eps, bias_correction), scale_by_lr(lr))


OPTIMIZERS = {
    "sgd": sgd,
    "adam": adam,
}


def build_optimizer(name: str, **hyper: object) -> Transform:
    """Look up an optimizer by name and build it; unknown names or keys raise ConfigError."""
    import inspect

    from netrx.errors import ConfigError, did_you_mean, unknown_choice

    if name not in OPTIMIZERS:
        raise unknown_choice("optimizer", name, OPTIMIZERS)
    factory = OPTIMIZERS[name]
    accepted = set(inspect.signature(factory).parameters)
    for key in hyper:
        if key not in accepted:
            raise ConfigError(
                f"optimizer {name!r} has no hyperparameter {key!r}"
                f"{did_you_mean(key, accepted)}; it takes: {', '.join(sorted(accepted))}")
    return factory(**hyper)
