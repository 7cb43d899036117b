"""The basic recipe: remedies for high bias and high variance as concrete config changes.

Each :class:`Prescription` carries the :class:`Change` objects that carry it out on a
:class:`~netrx.config.RunConfig` (what ``netrx improve`` applies) and, where a value
should be searched rather than set, a search space for the tuner:

- high bias → bigger network (wider, deeper), train longer, a better optimizer /
  a tuned learning rate, less regularization (where λ or dropout is set: the notes' "λ
  too large ... from overfitting to underfitting"), a different architecture; repeat
  until the bias is fine;
- high variance → more data (augmentation when none can be had), regularization
  (L2, dropout, early stopping), a different architecture.

As in the notes' recipe, bias remedies come first: fit the training set, then make it
generalise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netrx.diagnose.bias_variance import Diagnosis
from netrx.registry import FAMILIES, OPTIMIZERS

if TYPE_CHECKING:
    from netrx.config import RunConfig


@dataclass(frozen=True)
class Change:
    """Set config ``path`` to ``value`` (``reason`` says why). Switching ``optimizer.name``
    keeps only the hyperparameters the new optimizer accepts."""

    path: str
    value: Any
    reason: str = ""

    def apply(self, cfg: RunConfig) -> RunConfig:
        """A new, validated config with the change made (``cfg`` is not modified)."""
        from netrx.config import parse_config, set_path

        data = cfg.model_dump(mode="json")
        if self.path == "optimizer.name":
            data["optimizer"] = _keep_accepted(data["optimizer"], str(self.value))
        node = data
        for part in self.path.split(".")[:-1]:  # an absent optional section (None) starts empty
            if isinstance(node, dict) and node.get(part, {}) is None:
                node[part] = {}
            node = node.get(part) if isinstance(node, dict) else None
        set_path(data, self.path, self.value)
        return parse_config(data)

    def __str__(self) -> str:
        return f"{self.path}: {self.value!r}"


def _keep_accepted(section: dict[str, Any], name: str) -> dict[str, Any]:
    if name not in OPTIMIZERS:
        return section
    return {k: v for k, v in section.items() if k == "name" or OPTIMIZERS.accepts(name, k)}


@dataclass(frozen=True)
class Prescription:
    """One remedy of the basic recipe: ``problem`` is ``bias`` or ``variance``; ``changes``
    are applied together; ``search`` maps config paths to distributions for the tuner
    (e.g. ``{"optimizer.lr": "log_uniform(1e-4, 1e-1)"}``)."""

    problem: str
    remedy: str
    advice: str
    changes: tuple[Change, ...] = ()
    search: dict[str, str] = field(default_factory=dict)

    def apply(self, cfg: RunConfig) -> RunConfig:
        for change in self.changes:
            cfg = change.apply(cfg)
        return cfg


def family_default(family: str, option: str) -> Any:
    """The default of ``option`` in ``family``'s builder (None when it has none)."""
    return FAMILIES.default(family, option) if family in FAMILIES else None


def input_kind(input_shape: tuple[int, ...] | None,
               columns: tuple[str, ...] | None = None) -> str | None:
    """``image`` ([C, H, W] or [H, W]), ``signal`` ([C, L] with few channels, or [L] with
    unnamed columns x0, x1, ... and L ≥ 16), ``table`` (named columns) or None (unknown)."""
    if not input_shape:
        return None
    shape = tuple(input_shape)
    if len(shape) >= 3:
        return "image"
    if len(shape) == 2:
        return "signal" if shape[0] <= 4 else "image"
    unnamed = columns is None or all(c == f"x{i}" for i, c in enumerate(columns))
    return "signal" if unnamed and shape[0] >= 16 else "table"


def _other_family(cfg: RunConfig, kind: str | None) -> str | None:
    """A convolutional family for signals and images (weight sharing: a better prior with
    fewer parameters); None for tables, where no other family applies."""
    if cfg.model.family != "mlp":
        return None
    return {"image": "cnn2d", "signal": "cnn1d"}.get(kind or "")


def _max(value: float | list[float]) -> float:
    return max(value) if isinstance(value, list) else float(value)


def bias_remedies(cfg: RunConfig, input_shape: tuple[int, ...] | None = None,
                  columns: tuple[str, ...] | None = None) -> list[Prescription]:
    """High bias: bigger network, train longer, better optimizer / tuned α, less
    regularization, other family."""
    m, out = cfg.model, []
    if m.family == "mlp":
        hidden = list(m.hidden) or [100]
        wider = [2 * h for h in hidden]
        deeper = hidden + [hidden[-1]]
        out.append(Prescription("bias", "bigger network: wider",
                                f"double every hidden layer ({hidden} → {wider})",
                                (Change("model.hidden", wider, "more units fit the training "
                                        "set better"),)))
        out.append(Prescription("bias", "bigger network: deeper",
                                f"add a hidden layer ({hidden} → {deeper})",
                                (Change("model.hidden", deeper, "more layers represent more "
                                        "complex functions with few units"),)))
    else:
        channels = m.channels or family_default(m.family, "channels") or 16
        out.append(Prescription("bias", "bigger network: wider",
                                f"double the filters ({channels} → {2 * channels})",
                                (Change("model.channels", 2 * channels, "more filters fit "
                                        "the training set better"),)))
    epochs = cfg.train.epochs
    longer = [Change("train.epochs", max(2 * epochs, epochs + 10),
                     "the training error may still be falling")]
    out.append(Prescription("bias", "train longer",
                            f"train for {longer[0].value} epochs instead of {epochs}",
                            tuple(longer)))
    lr_space = {"optimizer.lr": "log_uniform(1e-4, 1e-1)"}
    if cfg.optimizer.name != "adam":
        out.append(Prescription(
            "bias", "better optimizer", f"switch from {cfg.optimizer.name} to Adam (β1 0.9, "
            "β2 0.999, ε 1e-8; α = 1e-3 is a good start), then tune α on a log scale",
            (Change("optimizer.name", "adam", "momentum plus per-parameter step sizes"),
             Change("optimizer.lr", 1e-3, "Adam's usual starting point")), lr_space))
    else:
        out.append(Prescription("bias", "tune the learning rate",
                                "search α on a log scale between 1e-4 and 1e-1", (), lr_space))
    weaker = _weaker_regularization(cfg)
    if weaker is not None:
        out.append(weaker)
    family = _other_family(cfg, input_kind(input_shape, columns))
    if family is not None:
        out.append(Prescription("bias", "different architecture",
                                f"try a {family} (convolutions share weights across positions)",
                                (Change("model.family", family, "a better inductive bias for "
                                        "signals / images"),)))
    return out


def _weaker_regularization(cfg: RunConfig) -> Prescription | None:
    """The notes: a λ set too large drives W towards 0 and takes the network "from
    overfitting to underfitting"; with high bias, search λ (and the dropout rate) below
    their current values. None when the config has no L2 and no dropout."""
    l2, rate = _max(cfg.regularization.l2), _max(cfg.model.dropout)
    changes, search, said = [], {}, []
    if l2 > 0:
        changes.append(Change("regularization.l2", l2 / 3, "a smaller λ lets W fit the "
                              "training set"))
        search["regularization.l2"] = f"log_uniform({l2 / 30:.6g}, {l2:.6g})"
        said.append(f"λ {l2:g} → {l2 / 3:.3g}")
    if rate > 0:
        lower = round(max(0.0, rate - 0.1), 3)
        changes.append(Change("model.dropout", lower, "fewer dropped units fit the training "
                              "set better"))
        search["model.dropout"] = f"uniform(0, {rate:.6g})"
        said.append(f"dropout {rate:g} → {lower:g}")
    if not changes:
        return None
    return Prescription("bias", "less regularization",
                        f"{', '.join(said)}, then search below the current values",
                        tuple(changes), search)


def variance_remedies(cfg: RunConfig, input_shape: tuple[int, ...] | None = None,
                      columns: tuple[str, ...] | None = None) -> list[Prescription]:
    """High variance: more data (augmentation), regularization, other family."""
    out = []
    kind = input_kind(input_shape, columns)
    if cfg.augment.preset == "none" and kind in ("signal", "image"):
        out.append(Prescription("variance", "more data",
                                "collect more training data; where none can be had, augment "
                                "the training batches (shifts, scaling, noise)",
                                (Change("augment.preset", "auto", "augmentation makes more "
                                        "data from the data there is"),)))
    else:
        out.append(Prescription("variance", "more data",
                                "collect more training data (the strongest cure for variance)"
                                + ("; augmentation is already on" if cfg.augment.preset != "none"
                                   else ""), ()))
    l2 = _max(cfg.regularization.l2)
    new_l2 = 1.0 if l2 == 0 else 3.0 * l2
    out.append(Prescription("variance", "regularization: L2",
                            f"penalise λ/2m Σ‖W‖²_F with λ = {new_l2:g}, then tune λ",
                            (Change("regularization.l2", new_l2, "smaller weights give a "
                                    "smoother function"),),
                            {"regularization.l2": "log_uniform(1e-2, 1e1)"}))
    rate = _max(cfg.model.dropout)
    new_rate = 0.2 if rate == 0 else round(min(0.5, rate + 0.1), 3)
    if new_rate > rate:
        out.append(Prescription("variance", "regularization: dropout",
                                f"dropout rate {rate:g} → {new_rate:g} (keep_prob "
                                f"{1 - new_rate:g})",
                                (Change("model.dropout", new_rate, "units cannot rely on any "
                                        "one input"),),
                                {"model.dropout": "uniform(0.1, 0.5)"}))
    if cfg.train.early_stopping is None:
        out.append(Prescription("variance", "regularization: early stopping",
                                "stop each member when its dev error has not improved for 10 "
                                "epochs and keep its best weights",
                                (Change("train.early_stopping.patience", 10, "stop before "
                                        "the network overfits"),)))
    family = _other_family(cfg, kind)
    if family is not None:
        out.append(Prescription("variance", "different architecture",
                                f"try a {family}: far fewer parameters for the same inputs",
                                (Change("model.family", family, "weight sharing is a strong "
                                        "prior"),)))
    return out


def prescribe(diagnosis: Diagnosis, cfg: RunConfig, *, input_shape: tuple[int, ...] | None = None,
              columns: tuple[str, ...] | None = None) -> list[Prescription]:
    """The basic recipe for this diagnosis: bias remedies first (fix bias, then variance),
    nothing when the verdict is good. ``input_shape`` / ``columns`` (from the data) decide
    whether a convolutional family or augmentation apply."""
    out: list[Prescription] = []
    if diagnosis.high_bias:
        out += bias_remedies(cfg, input_shape, columns)
    if diagnosis.high_variance:
        out += variance_remedies(cfg, input_shape, columns)
    return out
