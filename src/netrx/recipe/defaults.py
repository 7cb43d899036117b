"""The strong default of a family: what ``netrx improve``'s baseline trains next to its
learning-rate sweep, so that a search never has to start from (or end below) a weak one.

Learnt from published tuned defaults for MLPs on tables (RealMLP-TD, Holzmüller et al.
2024) and measured on netrx's tables (``python bench/defaults.py``, ``python
bench/tabular.py``), not copied:

- **AdamW** (decoupled weight decay λ_wd = 0.01), β2 = 0.95 (a shorter memory of ĝ²
  tolerates the larger steps of a warm start), α = 2·10⁻³ for classes, 10⁻³ for a
  regression;
- **cosine annealing** over the run, α_t = α0·½(1 + cos(π·t/T)), so the last epochs take
  small steps and early stopping rarely has to rescue a noisy end;
- **label smoothing** ε = 0.1 for classes (targets (1 − ε)·y + ε/C);
- **moderate dropout** p = 0.15 and, on a table, an MLP of 3 × 256 for classes, whose
  dropout and schedule keep it from over-fitting, but **one** layer of 256 for a
  regression. Measured by ``python bench/defaults.py`` (5-fold cross-validation of
  8-member ensembles on the training rows of ``bench/tabular.py``'s tables, R²): the
  former regression default (3 × 256, α = 2·10⁻³, no dropout) scored 0.838 on cars and
  0.304 on diabetes, this one 0.869 and 0.453, scikit-learn's MLP defaults 0.864 and
  0.444. Deeper nets fit a standardized target's noise (2 × 256 without dropout: 0.842
  and 0.235), and dropout helps the one layer (without it: 0.860 and 0.428);
- a mini-batch of about a sixteenth of the training set (32 … 256 examples), so even a
  small table makes ≥ 16 updates per epoch.

On a **signal** (1-D sequences: MNIST-1D) the default is the paper's ``cnn1d`` (its 25
filters) with the same optimizer, schedule and smoothing, α = 10⁻² and the ``auto``
augmentation (random shift, scale and stretch of the signal). Measured by ``python
bench/signal_default.py`` (8 members, 100 epochs, 3,200 training rows; dev accuracy of
the ensemble / mean member): 97.6 / 95.6 %; α = 2·10⁻³ under-fits (88.4 / 85.3 %),
α = 5·10⁻³ 96.0 / 94.0 %, α = 2·10⁻² ties (97.9 / 95.6 %); without augmentation the mean
member falls to 94.1 %, with 50 epochs to 92.6 %; the family's plain config (Adam
α = 10⁻², constant) reaches 92.8 / 87.0 %. 64 filters reach 98.6 / 97.9 % but cost twice
the time (112 s against 59 s on one thread): a fold of it does not fit the baseline's
slot of a 15-minute improve, and the rounds search the width.

Other families keep their architecture and take the optimizer, schedule and smoothing.
"""

from __future__ import annotations

from typing import Any

from netrx.config import RunConfig, parse_config

EPOCHS = 100
#: the MLP on a table, per task (see the module docstring)
TABLE_MLP = {"classification": {"hidden": [256, 256, 256], "dropout": 0.15},
             "regression": {"hidden": [256], "dropout": 0.15}}
OPTIMIZER = {"name": "adamw", "b2": 0.95, "weight_decay": 0.01}
#: α per task
LEARNING_RATE = {"classification": 2e-3, "regression": 1e-3}
#: the input kinds that have a strong default, and its family
DEFAULT_FAMILY = {"table": "mlp", "signal": "cnn1d"}
#: a signal's default (see the module docstring)
SIGNAL = {"lr": 1e-2, "dropout": 0.15, "augment": "auto"}
LABEL_SMOOTHING = 0.1


def describe_default(cfg: RunConfig) -> str:
    """A strong default (one member) in a few words, e.g. ``mlp 1×256, AdamW α=0.001,
    cosine, dropout 0.15, 100 epochs`` (label smoothing and augmentation named where they
    are on)."""
    m = cfg.model
    shape = f" {len(m.hidden)}×{m.hidden[0]}" if m.family == "mlp" and m.hidden else ""
    parts = [f"{m.family}{shape}", f"AdamW α={cfg.optimizer.lr:g}", "cosine",
             f"dropout {m.dropout:g}"]
    if cfg.regularization.label_smoothing:
        parts.append("label smoothing")
    if cfg.augment.preset != "none":
        parts.append(f"augment {cfg.augment.preset}")
    return ", ".join(parts + [f"{cfg.train.epochs} epochs"])


def batch_size_for(n_train: int) -> int:
    """B = clip(n_train // 16, 32, 256)."""
    return int(min(256, max(32, int(n_train) // 16)))


def strong_default(cfg: RunConfig, *, family: str, task: str, n_train: int,
                   kind: str | None) -> RunConfig:
    """``cfg`` (one member, the family's architecture) with the strong default's
    optimizer, schedule, loss, epochs and batch size; on a table an MLP also takes
    :data:`TABLE_MLP` of its task, on a signal the cnn1d takes :data:`SIGNAL`'s α,
    dropout and augmentation (see the module docstring)."""
    data: dict[str, Any] = cfg.model_dump(mode="json")
    data["members"] = 1
    lr = LEARNING_RATE[task]
    if family == "mlp" and kind == "table":
        data["model"].update(TABLE_MLP[task])
    elif family == "cnn1d" and kind == "signal":
        lr = SIGNAL["lr"]
        data["model"]["dropout"] = SIGNAL["dropout"]
        data["augment"]["preset"] = SIGNAL["augment"]
    data["optimizer"] = {**OPTIMIZER, "lr": lr,
                         "schedule": {"name": "cosine", "total": EPOCHS, "per": "epoch"}}
    if task == "classification":
        data["regularization"]["label_smoothing"] = LABEL_SMOOTHING
    data["train"].update(epochs=EPOCHS, batch_size=batch_size_for(n_train),
                         early_stopping=None)
    return parse_config(data)
