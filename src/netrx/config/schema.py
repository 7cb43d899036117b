"""The run configuration's schema: pydantic models, one per section; unknown keys are
rejected. Member-wise keys (``optimizer.lr``, ``optimizer.b1``/``b2``/``eps``,
``model.dropout``, the strengths of ``regularization`` and ``augment.noise``) take one
value or a list of one value per member."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from netrx.config.keys import MEMBER_KEYS, MemberValue, get_path
from netrx.registry import AUGMENTATIONS

#: optimizers whose ``lr`` means something else than a step size of 1e-3
DEFAULT_LR = {"lbfgs": 1.0}  # L-BFGS: scale of the quasi-Newton step


def _values(v: MemberValue | None) -> list[float]:
    return [] if v is None else list(v) if isinstance(v, list) else [v]


def _check_rate(v: MemberValue, what: str) -> MemberValue:
    for x in _values(v):
        if not 0.0 <= x < 1.0 and what == "label_smoothing":
            raise ValueError(f"label_smoothing ε={x} must be in [0, 1)")
        if not 0.0 <= x < 1.0:
            raise ValueError(f"{what} rate {x} must be in [0, 1) (it is 1 − keep_prob)")
    return v


def _check_nonneg(v: MemberValue, what: str) -> MemberValue:
    for x in _values(v):
        if not 0.0 <= x < float("inf"):
            raise ValueError(f"{what} {x} must be a finite value ≥ 0 (0 turns it off)")
    return v


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    dataset: str = "mnist1d"
    target: str | None = None
    task: Literal["classification", "regression"] | None = None
    impute: Literal["mean", "median", "most_frequent"] | None = None
    drop: list[str] = Field(default_factory=list)  # CSV columns left out (IDs, free text)
    features: list[str] | None = None  # CSV columns used (default: all but target, drop)
    dev: float = Field(0.2, ge=0.0, lt=1.0)
    test: float = Field(0.2, ge=0.0, lt=1.0)
    # regression: train on y := (y − μ_y)/σ_y (μ, σ of train); predictions are mapped back
    scale_target: bool = True
    # Bayes / human-level error proxy for the bias / variance verdict (netrx diagnose)
    target_error: float = Field(0.0, ge=0.0)


class ModelConfig(_Section):
    family: str = "mlp"
    hidden: list[int] = Field(default_factory=lambda: [100, 100])
    activation: str = "relu"
    init: str = "auto"
    dropout: MemberValue = 0.0
    batch_norm: bool = False
    batch_norm_momentum: float = Field(0.1, gt=0.0, le=1.0)
    channels: int | None = Field(None, ge=1)
    width: int | None = Field(None, ge=1)  # resnet1d / resnet2d: filters of the first stage
    depth: int | None = Field(None, ge=1)  # resnet1d / resnet2d: residual blocks per stage

    @field_validator("dropout")
    @classmethod
    def _rate(cls, v: MemberValue) -> MemberValue:
        return _check_rate(v, "dropout")

    @field_validator("hidden")
    @classmethod
    def _widths(cls, v: list[int]) -> list[int]:
        if any(h < 1 for h in v):
            raise ValueError(f"hidden sizes must be ≥ 1, got {v}")
        return v


class OptimizerConfig(BaseModel):
    """``name`` plus the optimizer's own hyperparameters (checked against its signature)."""

    model_config = ConfigDict(extra="allow")
    name: str = "adam"
    lr: MemberValue = 1e-3
    # a learning-rate schedule {name: cosine, total: 1000, ...} (netrx.optim.schedules), α0 = lr
    schedule: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_lr(cls, data: Any) -> Any:
        if isinstance(data, dict) and "lr" not in data and data.get("name") in DEFAULT_LR:
            data = {**data, "lr": DEFAULT_LR[data["name"]]}
        return data

    def hyperparameters(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items()
                if k not in ("name", "schedule") and v is not None}


class EarlyStoppingConfig(_Section):
    patience: int = Field(10, ge=0)
    min_delta: float = Field(0.0, ge=0.0)
    monitor: Literal["dev_error", "dev_loss"] = "dev_error"
    restore_best: bool = True


class EnsembleConfig(_Section):
    """Predict with more than one set of weights (:mod:`netrx.ensemble`): ``average`` the
    probabilities (values, for regression) of the ``top`` members ranked on dev (every
    member that did not diverge when ``top`` is unset); ``polyak`` replaces every
    member's final weights by their EWA along the trajectory, θ̄ = EWA_β(θ) with bias
    correction, and recomputes the batch-norm statistics for them."""

    method: Literal["average", "polyak"]
    top: int | None = Field(None, ge=1)
    beta: float = Field(0.999, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _top_for_average(self) -> EnsembleConfig:
        if self.method != "average" and self.top is not None:
            raise ValueError("train.ensemble.top is for method 'average' (the members whose "
                             "probabilities are averaged)")
        return self


class RegularizationConfig(_Section):
    """Penalties (λ/2m‖W‖²_F, λ/m‖W‖₁), decoupled weight decay, max-norm, label smoothing,
    DropConnect and input dropout; every strength is member-wise."""

    l2: MemberValue = 0.0
    l1: MemberValue = 0.0
    l1_mode: Literal["subgradient", "proximal"] = "subgradient"
    weight_decay: MemberValue = 0.0
    max_norm: MemberValue | None = None
    label_smoothing: MemberValue = 0.0
    dropconnect: MemberValue = 0.0
    input_dropout: MemberValue = 0.0

    @field_validator("l2", "l1", "weight_decay")
    @classmethod
    def _strength(cls, v: MemberValue, info: Any) -> MemberValue:
        return _check_nonneg(v, info.field_name)

    @field_validator("dropconnect", "input_dropout", "label_smoothing")
    @classmethod
    def _rate(cls, v: MemberValue, info: Any) -> MemberValue:
        return _check_rate(v, info.field_name)


    @field_validator("max_norm")
    @classmethod
    def _max_norm(cls, v: MemberValue | None) -> MemberValue | None:
        for x in _values(v):
            if not 0.0 < x < float("inf"):
                raise ValueError(f"max_norm c={x} must be > 0 (it bounds each unit's ‖w‖₂)")
        return v


class AugmentConfig(_Section):
    """Training-batch augmentation: ``preset`` (``auto`` picks ``signal`` for inputs [L] or
    [C, L], ``image`` for [C, H, W]) and the strength of each transform."""

    preset: str = "none"
    # 1-D signals
    shift: int = Field(3, ge=0)  # max |shift| in samples
    scale: float = Field(0.1, ge=0.0, lt=1.0)  # amplitude (signals) or zoom (images) ±
    noise: MemberValue = 0.0  # Gaussian noise σ (signals and images)
    stretch: float = Field(0.05, ge=0.0, lt=1.0)  # time stretch ±
    # images
    flip: bool = False  # horizontal flips (off by default: digits are not symmetric)
    crop_padding: int = Field(1, ge=0)  # pad and randomly crop back, pixels
    rotate: float = Field(10.0, ge=0.0, lt=180.0)  # degrees ±
    brightness: float = Field(0.1, ge=0.0)
    contrast: float = Field(0.1, ge=0.0, lt=1.0)

    @field_validator("preset")
    @classmethod
    def _preset(cls, v: str) -> str:
        return AUGMENTATIONS.check(v)

    @field_validator("noise")
    @classmethod
    def _noise(cls, v: MemberValue) -> MemberValue:
        return _check_nonneg(v, "noise σ")


class PlateauConfig(_Section):
    """ReduceLROnPlateau, per member: α := max(factor·α, min_lr) after ``patience`` epochs
    without improvement of ``monitor``."""

    factor: float = Field(0.1, gt=0.0, lt=1.0)
    patience: int = Field(10, ge=0)
    min_lr: float = Field(0.0, ge=0.0)
    monitor: Literal["dev_error", "dev_loss", "train_loss", "train_error"] = "dev_loss"
    min_delta: float = Field(0.0, ge=0.0)


class TrainConfig(_Section):
    epochs: int = Field(20, ge=0)
    batch_size: int = Field(128, ge=1)
    loss: str = "auto"
    early_stopping: EarlyStoppingConfig | None = None
    reduce_lr_on_plateau: PlateauConfig | None = None
    tensorboard: str | None = None  # log per-member scalars to <tensorboard>/<run name>/
    ensemble: EnsembleConfig | None = None
    #: the step's forward pass and loss through torch.compile (CUDA graphs on CUDA)
    compile: bool = False

    @model_validator(mode="after")
    def _one_final_weights(self) -> TrainConfig:
        es, ens = self.early_stopping, self.ensemble
        if ens is not None and ens.method == "polyak" and es is not None and es.restore_best:
            raise ValueError("train.ensemble polyak replaces every member's weights by their "
                             "average along the trajectory, which would overwrite the best "
                             "epoch that early_stopping.restore_best restores; set "
                             "train.early_stopping.restore_best: false, or use method average")
        return self


class TransferConfig(_Section):
    """Start from a trained network (:mod:`netrx.transfer.plans`): ``init_from`` a run directory or
    a state-dict file; ``freeze`` the first N layers; ``stage`` cuts the network after layer
    s under a new linear output layer; the output layer is always re-initialised, its
    learning rate × ``head_lr_multiplier``, a pretrained layer d layers below it
    × ``layer_lr_decay``^d. ``strategy: auto`` fills the unset keys from the notes' table
    (data size × ``similarity``)."""

    init_from: str | None = None
    strategy: Literal["none", "auto"] = "none"
    similarity: Literal["similar", "different"] = "similar"
    freeze: int | None = Field(None, ge=0)
    stage: int | None = Field(None, ge=1)
    head_lr_multiplier: float | None = Field(None, gt=0.0)
    layer_lr_decay: float | None = Field(None, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _needs_source(self) -> TransferConfig:
        used = [k for k in ("freeze", "stage", "head_lr_multiplier", "layer_lr_decay")
                if getattr(self, k) is not None] + (["strategy"] if self.strategy != "none"
                                                    else [])
        if used and self.init_from is None:
            raise ValueError(f"transfer.{used[0]} needs transfer.init_from (--init-from): a "
                             "netrx run directory or a state-dict file to start from")
        if self.stage is not None and self.freeze is not None and self.freeze > self.stage:
            raise ValueError(f"transfer.freeze={self.freeze} exceeds transfer.stage="
                             f"{self.stage}: a cut network keeps only layers 1…{self.stage}")
        return self


class RunConfig(_Section):
    name: str | None = None
    seed: int = 0
    device: str = "auto"
    members: int = Field(1, ge=1)
    out: str = "runs"
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    regularization: RegularizationConfig = Field(default_factory=RegularizationConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    transfer: TransferConfig = Field(default_factory=TransferConfig)

    @model_validator(mode="after")
    def _member_lists(self) -> RunConfig:
        for path in MEMBER_KEYS.values():
            value = get_path(self, path)
            if isinstance(value, list) and len(value) != self.members:
                raise ValueError(f"{path} lists {len(value)} values for {self.members} members; "
                                 "give one value or one per member")
        return self


