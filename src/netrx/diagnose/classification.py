"""How good a classifier's test predictions are, class by class: the metrics behind the
report's per-class table, ROC and precision–recall curves and reliability diagram.

Plain NumPy on true labels y ∈ {0..C−1}, predicted labels ŷ and probabilities p [n, C];
the tests check every function against scikit-learn.

- per class c, with TP_c = #{y = c, ŷ = c}, FP_c = #{y ≠ c, ŷ = c}, FN_c = #{y = c, ŷ ≠ c}:
  precision_c = TP_c / (TP_c + FP_c), recall_c = TP_c / (TP_c + FN_c),
  F1_c = 2·precision_c·recall_c / (precision_c + recall_c), support_c = #{y = c}
  (a ratio with a zero denominator is 0, as scikit-learn's ``zero_division=0``);
  macro average = (1/C) Σ_c m_c, weighted average = Σ_c (support_c / n) m_c.
- binary tasks (positive class 1, score s = p_1): at each threshold t (every distinct
  score, high to low) a prediction is positive when s ≥ t, giving TP(t) and FP(t);
  ROC: TPR = TP/P against FPR = FP/N from (0, 0), AUC its trapezoid area;
  precision–recall: precision = TP/(TP + FP) against recall = TP/P, and average
  precision AP = Σ_n (R_n − R_{n−1}) P_n (a step sum, not interpolated).
- calibration (top label): confidence = max_c p_c, correct = [argmax p = y]; in B equal
  bins of (0, 1], right-closed, acc_b = mean correct and conf_b = mean confidence of the
  n_b examples in bin b, and the expected calibration error
  ECE = Σ_b (n_b / n) |acc_b − conf_b|.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netrx.errors import DataError


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


@dataclass(frozen=True)
class ClassMetrics:
    """Per-class precision, recall, F1 and support (arrays [C]), and their averages."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    accuracy: float

    def average(self, kind: str) -> dict[str, float]:
        """``macro`` (each class counts the same) or ``weighted`` (by support)."""
        n = float(self.support.sum())
        w = (np.full(len(self.support), 1 / len(self.support)) if kind == "macro"
             else self.support / n if n else np.zeros(len(self.support)))
        return {name: float((w * getattr(self, name)).sum())
                for name in ("precision", "recall", "f1")}

    def rows(self, classes: list[str]) -> list[dict[str, object]]:
        """One row per class, then the macro and weighted averages (support: n)."""
        out: list[dict[str, object]] = [
            {"class": str(c), "precision": float(p), "recall": float(r), "f1": float(f),
             "support": int(s)}
            for c, p, r, f, s in zip(classes, self.precision, self.recall, self.f1,
                                     self.support, strict=True)]
        n = int(self.support.sum())
        for kind in ("macro", "weighted"):
            out.append({"class": f"{kind} average", **self.average(kind), "support": n})
        return out


def per_class(y: np.ndarray, pred: np.ndarray, n_classes: int) -> ClassMetrics:
    """Precision, recall, F1 and support of each of ``n_classes`` classes."""
    y, pred = np.asarray(y, np.int64).ravel(), np.asarray(pred, np.int64).ravel()
    counts = np.bincount(y * n_classes + pred, minlength=n_classes ** 2)
    confusion = counts.reshape(n_classes, n_classes)  # [true, predicted]
    tp = np.diag(confusion)
    precision = _ratio(tp, confusion.sum(0))
    recall = _ratio(tp, confusion.sum(1))
    f1 = _ratio(2 * precision * recall, precision + recall)
    accuracy = float(tp.sum() / len(y)) if len(y) else float("nan")
    return ClassMetrics(precision, recall, f1, confusion.sum(1), accuracy)


def _threshold_counts(y: np.ndarray, score: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """TP(t) and FP(t) at every distinct score t, high to low; and P, N."""
    y = np.asarray(y).ravel().astype(bool)
    score = np.asarray(score, np.float64).ravel()
    if len(y) != len(score):
        raise DataError(f"{len(y)} labels but {len(score)} scores")
    P, N = int(y.sum()), int((~y).sum())
    if P == 0 or N == 0:
        raise DataError(f"ROC and precision–recall curves need both classes; the labels hold "
                        f"{P} positive and {N} negative examples")
    order = np.argsort(-score, kind="stable")
    s, hits = score[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last row of each distinct t
    tps = np.cumsum(hits)[last]
    fps = last + 1 - tps
    return tps, fps, s[last], P, N


def roc_curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(FPR, TPR, thresholds) of a binary task, from (0, 0) at threshold +∞ to (1, 1)."""
    tps, fps, thresholds, P, N = _threshold_counts(y, score)
    return (np.r_[0.0, fps / N], np.r_[0.0, tps / P], np.r_[np.inf, thresholds])


def auc(x: np.ndarray, y: np.ndarray) -> float:
    """The trapezoid area under the curve y(x), x increasing: Σ (x_i − x_{i−1})(y_i + y_{i−1})/2."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return float((np.diff(x) * (y[1:] + y[:-1]) / 2).sum())


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """The area under the ROC curve: the chance that a random positive scores above a
    random negative (ties count one half)."""
    fpr, tpr, _ = roc_curve(y, score)
    return auc(fpr, tpr)


def precision_recall_curve(y: np.ndarray, score: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) of a binary task, recall increasing, from
    (recall 0, precision 1) at threshold +∞."""
    tps, fps, thresholds, P, _ = _threshold_counts(y, score)
    return (np.r_[1.0, tps / (tps + fps)], np.r_[0.0, tps / P], np.r_[np.inf, thresholds])


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """AP = Σ_n (R_n − R_{n−1}) P_n over the thresholds, high to low."""
    precision, recall, _ = precision_recall_curve(y, score)
    return float((np.diff(recall) * precision[1:]).sum())


@dataclass(frozen=True)
class Reliability:
    """A reliability diagram: ``edges`` [B + 1] of the confidence bins; per bin the
    ``count`` n_b, mean ``confidence`` conf_b and ``accuracy`` acc_b (NaN when empty);
    and ECE = Σ_b (n_b / n) |acc_b − conf_b|."""

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    ece: float


def reliability(y: np.ndarray, probs: np.ndarray, bins: int = 10) -> Reliability:
    """Top-label calibration of probabilities ``probs`` [n, C] against labels ``y``:
    confidence max_c p_c in ``bins`` equal bins (lo, hi] of [0, 1]."""
    probs = np.asarray(probs, np.float64)
    y = np.asarray(y, np.int64).ravel()
    if probs.ndim != 2 or len(probs) != len(y) or not len(y):
        raise DataError(f"need probabilities [n, C] for n = {len(y)} labels, got shape "
                        f"{probs.shape}")
    confidence = probs.max(1)
    correct = (probs.argmax(1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], confidence, side="left")  # right-closed bins
    count = np.bincount(which, minlength=bins)
    conf = _ratio(np.bincount(which, confidence, bins), count)
    acc = _ratio(np.bincount(which, correct, bins), count)
    ece = float((count / len(y) * np.abs(acc - conf)).sum())
    empty = count == 0
    conf[empty], acc[empty] = np.nan, np.nan
    return Reliability(edges, count, conf, acc, ece)
