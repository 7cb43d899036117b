"""Learning curves: train and dev error against the size of the training set.

For each fraction f the configured population is trained on a subset of f·m training
examples (one population per fraction; the subsets are nested and stratified, drawn
from the config's seed) and evaluated on that subset (train error) and on the whole
dev set (dev error); the member with the lowest dev error represents the fraction.

Reading the picture: a dev curve that keeps falling as m grows means more data will
help (variance); train and dev curves that meet high above the target error mean it
will not (bias: a bigger network is needed). The preprocessing stays the one fitted on
the full training set (it is training data either way).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from netrx.config import RunConfig
from netrx.data import Split
from netrx.diagnose.bias_variance import Diagnosis, bias_variance
from netrx.errors import ConfigError, DataError

DEFAULT_FRACTIONS = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0)


@dataclass
class CurvePoint:
    fraction: float
    n_train: int
    train_error: float
    dev_error: float
    member: int


@dataclass
class LearningCurve:
    points: list[CurvePoint]
    target_error: float
    dataset: str
    n_dev: int | None = None  # dev-set size (classification), for the standard errors

    def diagnosis(self, **thresholds: float) -> Diagnosis:
        """The bias / variance verdict at the largest training set."""
        last = self.points[-1]
        sizes = {"n_train": last.n_train, "n_dev": self.n_dev} if self.n_dev else {}
        return bias_variance(last.train_error, last.dev_error,
                             target_error=self.target_error, **thresholds, **sizes)

    def dev_slope(self) -> float:
        """Change of the dev error per doubling of m over the last two points (< 0: more
        data still helps)."""
        if len(self.points) < 2:
            return 0.0
        a, b = self.points[-2], self.points[-1]
        return (b.dev_error - a.dev_error) / np.log2(b.n_train / a.n_train)

    def rows(self) -> list[dict[str, float]]:
        return [p.__dict__.copy() for p in self.points]

    def plot(self, path: str | os.PathLike) -> Path:
        """Write the curves as a PNG (matplotlib, Agg backend)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from netrx.files import write_atomic

        n = [p.n_train for p in self.points]
        fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
        ax.plot(n, [p.train_error for p in self.points], "o-", label="train error")
        ax.plot(n, [p.dev_error for p in self.points], "s-", label="dev error")
        ax.axhline(self.target_error, color="gray", ls="--", lw=1,
                   label=f"target error {self.target_error:.1%}")
        ax.set_xlabel("training examples m")
        ax.set_ylabel("error")
        ax.set_title(f"learning curve — {self.dataset}")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        out = Path(path)
        write_atomic(out, lambda f: fig.savefig(f, format="png"))
        plt.close(fig)
        return out


def parse_fractions(text: str | Sequence[float] | None) -> list[float]:
    """``"0.1,0.2,0.5,1"`` or a sequence -> sorted unique fractions in (0, 1]."""
    if text is None:
        return list(DEFAULT_FRACTIONS)
    try:
        values = [float(v) for v in (text.split(",") if isinstance(text, str) else text)
                  if str(v).strip()]
    except ValueError:
        raise ConfigError(f"--fractions {text!r}: give comma-separated numbers in (0, 1], "
                          "e.g. 0.1,0.2,0.5,1") from None
    bad = [v for v in values if not 0 < v <= 1]
    if bad or not values:
        raise ConfigError(f"fractions must lie in (0, 1], got {bad or values}")
    return sorted(set(values))


def nested_order(y: np.ndarray, seed: int, classification: bool) -> np.ndarray:
    """An order of the training examples whose every prefix is (nearly) stratified: each
    class's examples, shuffled, are spread evenly along the order."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    if not classification:
        return perm
    key = np.empty(len(y))
    for c in np.unique(y):
        idx = perm[y[perm] == c]
        key[idx] = (np.arange(len(idx)) + rng.random()) / len(idx)
    return perm[np.argsort(key[perm], kind="stable")]


def learning_curve(cfg: RunConfig, fractions: Sequence[float] | str | None = None, *,
                   progress: bool = False, target_error: float | None = None) -> LearningCurve:
    """Train ``cfg`` on growing fractions of its training set; see the module docstring."""
    from netrx.experiment import prepare, run

    fracs = parse_fractions(fractions)
    prepared = prepare(cfg)
    full = prepared.splits.train
    if len(prepared.splits.dev.y) == 0:
        raise ConfigError("a learning curve needs a dev set: set data.dev > 0")
    order = nested_order(np.asarray(full.y), cfg.seed,
                         prepared.dataset.task == "classification")
    points = []
    for f in fracs:
        n = max(1, int(round(f * len(order))))
        if n < 2:
            raise DataError(f"fraction {f} leaves {n} training example; use larger fractions")
        idx = np.sort(order[:n])
        part = copy.copy(prepared)
        part.splits = copy.copy(prepared.splits)
        part.splits.train = Split(full.X[idx], full.y[idx])
        result = run(cfg, progress=progress, write=False, prepared=part)
        row = result.members[result.best]
        if row.get("train_error") is None or row.get("dev_error") is None:
            raise DataError(f"every member diverged at fraction {f}; lower the learning rate")
        points.append(CurvePoint(f, n, float(row["train_error"]), float(row["dev_error"]),
                                 int(result.best)))
    target = cfg.data.target_error if target_error is None else float(target_error)
    n_dev = len(prepared.splits.dev.y) if prepared.dataset.task == "classification" else None
    return LearningCurve(points, target, prepared.dataset.name, n_dev)
