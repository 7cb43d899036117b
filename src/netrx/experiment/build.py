"""Every ``*_from_config``: a :class:`~netrx.config.RunConfig` read once into the engine's
pieces — the population, the optimizer with its schedule and decays, the penalty, the
constraint steps, the augmentation, the loss and the callbacks. The engine below takes
tensors and plain values; nothing under :mod:`netrx.experiment` reads a config."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from netrx.config import RunConfig, member_values
from netrx.data.augment import ImageAugment, SignalAugment, resolve_preset
from netrx.errors import ConfigError
from netrx.nn import DropConnect, Dropout, InputDropout, build
from netrx.optim import build_optimizer, current_lr
from netrx.optim.base import Hyper, Transform, chain
from netrx.optim.masking import scale_by_mask
from netrx.optim.schedules import build_schedule
from netrx.optim.weight_decay import decoupled_weight_decay
from netrx.population import Population
from netrx.registry import FAMILIES
from netrx.regularize.constraints import MaxNorm, ProximalL1
from netrx.regularize.penalties import Penalty, combine, l1_penalty, l2_penalty
from netrx.train import EarlyStopping
from netrx.train.callbacks import Callback
from netrx.train.losses import Objective, with_label_smoothing
from netrx.train.plateau import ReduceLROnPlateau
from netrx.transfer import (
    check_freeze,
    freeze_statistics,
    layer_groups,
    load_weights,
    lr_multipliers,
    truncate,
)

#: the per-member rates held in layers' buffers, by config key
RATE_LAYERS = {"dropconnect": DropConnect, "input_dropout": InputDropout}


def member_hyper(value: float | list[float] | None, pop: Population) -> Hyper | None:
    """A config value (one number or one per member) as a float or a [K] tensor on the
    population's device; ``None`` when it is absent or zero for every member."""
    if value is None:
        return None
    if isinstance(value, list):
        if not any(v != 0 for v in value):
            return None
        return torch.tensor([float(v) for v in value], dtype=pop.dtype, device=pop.device)
    return float(value) if float(value) != 0 else None


# -- the population -----------------------------------------------------------------------


def build_model(cfg: RunConfig, input_shape: Sequence[int], n_outputs: int) -> torch.nn.Module:
    """One network of ``cfg.model`` (the template every member copies) for inputs of
    ``input_shape`` with ``n_outputs`` output units; ``transfer.stage`` cuts it after that
    layer under a new linear output layer."""
    m = cfg.model
    options: dict[str, Any] = {"activation": m.activation, "init": m.init,
                               "batch_norm": m.batch_norm}
    options["dropout"] = max(member_values(m.dropout, cfg.members))
    if m.batch_norm and m.batch_norm_momentum != 0.1:
        options["bn_momentum"] = m.batch_norm_momentum
    rates = {key: member_values(getattr(cfg.regularization, key), cfg.members)
             for key in RATE_LAYERS}
    options.update({key: max(v) for key, v in rates.items() if max(v) > 0})
    if m.family == "mlp":
        options["hidden"] = list(m.hidden)
    if m.channels is not None:
        options["channels"] = m.channels
    for key in ("width", "depth"):  # residual families
        if getattr(m, key) is not None:
            options[key] = getattr(m, key)
    if not m.batch_norm and m.family in FAMILIES and not FAMILIES.accepts(m.family, "batch_norm"):
        del options["batch_norm"]  # off: pass it only to families that have the option
    shape = tuple(int(s) for s in input_shape)
    model = build(m.family, shape, n_outputs, **options)
    if cfg.transfer.stage is not None:  # a linear classifier on layers 1…stage
        model = truncate(model, cfg.transfer.stage, n_outputs, shape)
    return model


def build_population(cfg: RunConfig, input_shape: Sequence[int], n_outputs: int) -> Population:
    """``cfg.members`` networks of ``cfg.model`` (:func:`build_model`) for inputs of
    ``input_shape`` with ``n_outputs`` output units, member k drawn from seed + k, with the
    per-member rates of dropout, DropConnect and input dropout in their buffers."""
    model = build_model(cfg, input_shape, n_outputs)
    pop = Population(model, cfg.members, seed=cfg.seed, device=cfg.device)
    set_member_buffers(cfg, pop)
    return pop


def set_member_buffers(cfg: RunConfig, pop: Population) -> None:
    """Set the per-member rates held in buffers (dropout, DropConnect, input dropout) from
    ``cfg`` (one value or one per member; a tuner refilling a slot calls it again)."""
    dropout = member_values(cfg.model.dropout, pop.members)
    if max(dropout) > 0:
        pop.set_buffer(lambda mod: type(mod) is Dropout, "p", dropout)
    for key, layer in RATE_LAYERS.items():
        values = member_values(getattr(cfg.regularization, key), pop.members)
        if max(values) > 0:
            pop.set_buffer(lambda mod, t=layer: isinstance(mod, t), "p", values)


# -- the optimizer ------------------------------------------------------------------------


def steps_per_epoch(cfg: RunConfig, n_train: int) -> int:
    """Updates per epoch, ⌈n_train / batch_size⌉ (what epoch-based schedules count)."""
    return max(1, -(-int(n_train) // min(cfg.train.batch_size, max(int(n_train), 1))))


def optimizer_from_config(cfg: RunConfig, pop: Population,
                          n_train: int | None = None) -> tuple[Any, Any]:
    """The optimizer of ``cfg`` with per-member tensors, its schedule (epochs counted with
    ``n_train`` examples per epoch), decoupled weight decay and AdamW's decay mask (weights
    only), and a transfer run's per-layer learning-rate multipliers. Returns
    ``(optimizer, lr)`` where ``lr(state) -> [K]`` reads each member's current rate (for
    L-BFGS: its ``lr`` value)."""
    hyper: dict[str, Any] = {}
    for key, value in cfg.optimizer.hyperparameters().items():
        if isinstance(value, list):
            value = torch.tensor(value, dtype=pop.dtype, device=pop.device)
        hyper[key] = value
    spec = cfg.optimizer.schedule
    if cfg.optimizer.name == "lbfgs":
        if spec is not None or cfg.train.reduce_lr_on_plateau is not None:
            raise ConfigError("lbfgs takes no learning-rate schedule nor ReduceLROnPlateau "
                              "(its step comes from the line search); remove them")
        if member_hyper(cfg.regularization.weight_decay, pop) is not None:
            raise ConfigError("regularization.weight_decay is a step-wise decay for "
                              "first-order optimizers; with lbfgs use regularization.l2")
        return build_optimizer("lbfgs", **hyper), hyper.get("lr")
    if spec is not None:
        spe = None if n_train is None else steps_per_epoch(cfg, n_train)
        hyper["lr"] = build_schedule(spec, lr=hyper["lr"], steps_per_epoch=spe)
    wd = member_hyper(cfg.regularization.weight_decay, pop)
    if wd is not None and "weight_decay" in hyper:
        raise ConfigError("weight decay is set twice (optimizer.weight_decay and "
                          "regularization.weight_decay); keep one")
    if cfg.optimizer.name == "adamw":
        hyper["mask"] = {"flat": pop.weight_mask()}
        if wd is not None:  # AdamW's own decoupled decay
            hyper["weight_decay"], wd = wd, None
    optimizer = build_optimizer(cfg.optimizer.name, **hyper)
    if wd is not None:  # decoupled: θ := θ + u − α_t·λ_wd·θ on the weights only
        optimizer = decoupled_weight_decay(optimizer, wd, mask={"flat": pop.weight_mask()})
    if cfg.transfer.init_from is not None:  # 0 on frozen layers, per-layer lr multipliers
        optimizer = with_lr_multipliers(optimizer, cfg, pop)
    return optimizer, member_lr


def member_lr(state: Any) -> Tensor:
    """Each member's learning rate at its last update (schedule and plateau included)."""
    return current_lr(state.opt_state)


# -- regularizers -------------------------------------------------------------------------


def penalty_from_config(cfg: RunConfig, n_train: int, pop: Population) -> Penalty | None:
    """The penalty ``cfg.regularization`` asks for: L2 (λ/2m‖W‖²_F) plus L1 (λ/m‖W‖₁) when
    ``l1_mode`` is ``subgradient``; ``None`` if neither is on. m = ``n_train``. (The
    proximal L1 step is a constraint: :func:`constraints_from_config`.)"""
    reg = cfg.regularization
    parts: list[Penalty] = []
    l2 = member_hyper(reg.l2, pop)
    if l2 is not None:
        parts.append(l2_penalty(l2, n_train))
    l1 = member_hyper(reg.l1, pop)
    if l1 is not None and reg.l1_mode == "subgradient":
        parts.append(l1_penalty(l1, n_train))
    return combine(parts)


def constraints_from_config(cfg: RunConfig, n_train: int, pop: Population,
                            lr: Any) -> list[Callback]:
    """The steps after every update that ``cfg.regularization`` asks for: the proximal L1
    step (``l1_mode: proximal``, threshold α·λ/m) and the max-norm projection."""
    reg = cfg.regularization
    out: list[Callback] = []
    l1 = member_hyper(reg.l1, pop)
    scale = transfer_multipliers(cfg, pop)  # 0 on frozen layers: constraints leave them
    if l1 is not None and reg.l1_mode == "proximal":
        if lr is None:
            raise ConfigError("the proximal L1 step needs the learning rate α (optimizer.lr)")
        out.append(ProximalL1(l1, n_train, lr, scale=scale))
    c = member_hyper(reg.max_norm, pop)
    if c is not None:
        out.append(MaxNorm(c, scale=scale))
    return out


def augment_from_config(cfg: RunConfig, input_shape: Sequence[int],
                        pop: Population) -> Callable[[Tensor], Tensor] | None:
    """The augmentation ``cfg.augment`` asks for (``None`` for preset ``none``); member-wise
    strengths become [K] tensors on the population's device."""
    a = cfg.augment
    kind = resolve_preset(a.preset, input_shape)
    if kind == "none":
        return None
    noise = a.noise
    if isinstance(noise, list):
        noise = torch.tensor(noise, dtype=pop.dtype, device=pop.device)
    if kind == "signal":
        return SignalAugment(shift=a.shift, scale=a.scale, noise=noise, stretch=a.stretch)
    return ImageAugment(flip=a.flip, crop_padding=a.crop_padding, rotate=a.rotate,
                        scale=a.scale, brightness=a.brightness, contrast=a.contrast,
                        noise=noise)


def loss_from_config(cfg: RunConfig, objective: Objective, pop: Population) -> Any:
    """The objective, with label smoothing when ``regularization.label_smoothing`` is on."""
    smoothing = member_hyper(cfg.regularization.label_smoothing, pop)
    return objective if smoothing is None else with_label_smoothing(objective, smoothing)


# -- callbacks ----------------------------------------------------------------------------


def callbacks_from_config(cfg: RunConfig) -> list[Callback]:
    """The callbacks of ``cfg.train``: ReduceLROnPlateau, EarlyStopping, TensorBoard (logging
    to ``<train.tensorboard>/<name>``) and Polyak averaging (``train.ensemble.method:
    polyak``)."""
    callbacks: list[Callback] = []
    if cfg.train.reduce_lr_on_plateau is not None:
        rp = cfg.train.reduce_lr_on_plateau
        callbacks.append(ReduceLROnPlateau(rp.factor, rp.patience, min_lr=rp.min_lr,
                                           monitor=rp.monitor, min_delta=rp.min_delta))
    if cfg.train.early_stopping is not None:
        es = cfg.train.early_stopping
        callbacks.append(EarlyStopping(es.patience, monitor=es.monitor, min_delta=es.min_delta,
                                       restore_best=es.restore_best))
    if cfg.train.tensorboard is not None:  # one sub-directory per run, side by side
        from netrx.train.tensorboard import TensorBoard

        callbacks.append(TensorBoard(Path(cfg.train.tensorboard) / (cfg.name or "run")))
    ens = cfg.train.ensemble
    if ens is not None and ens.method == "polyak":
        from netrx.ensemble import PolyakAveraging

        callbacks.append(PolyakAveraging(ens.beta))
    return callbacks


# -- transfer ---------------------------------------------------------------------------


def load_transfer_source(cfg: RunConfig, pop: Population) -> list[str]:
    """Load ``cfg.transfer.init_from`` into ``pop`` (all layers but the output layer) and
    freeze the statistics of the first ``transfer.freeze`` layers. Returns the names
    copied; a config without ``init_from`` leaves ``pop`` untouched."""
    t = cfg.transfer
    if t.init_from is None:
        return []
    from netrx.experiment.rundir import read_source

    source = read_source(t.init_from)
    copied = load_weights(pop, source.state, exact_depth=t.stage is None)
    freeze = t.freeze or 0
    groups = layer_groups(pop.template)
    check_freeze(freeze, len(groups))
    freeze_statistics(pop, groups[:freeze])
    return copied


def transfer_multipliers(cfg: RunConfig, pop: Population) -> Tensor | None:
    """A transfer run's per-coordinate learning-rate multipliers [1, P] (0 on frozen
    layers, :func:`netrx.transfer.lr_multipliers`); None without ``transfer.init_from``."""
    t = cfg.transfer
    if t.init_from is None:
        return None
    return lr_multipliers(pop, freeze=t.freeze or 0,
                          head_lr_multiplier=t.head_lr_multiplier or 1.0,
                          layer_lr_decay=1.0 if t.layer_lr_decay is None else t.layer_lr_decay)


def with_lr_multipliers(optimizer: Transform, cfg: RunConfig, pop: Population) -> Transform:
    """``optimizer`` followed by the transfer's per-layer learning-rate multipliers (0 on
    frozen layers); unchanged without ``transfer.init_from``."""
    mask = transfer_multipliers(cfg, pop)
    if mask is None:
        return optimizer
    if not isinstance(optimizer, Transform):
        raise ConfigError(f"transfer learning needs a first-order optimizer (a chain of "
                          f"transforms), not {cfg.optimizer.name!r}")
    return chain(optimizer, scale_by_mask({"flat": mask}))


