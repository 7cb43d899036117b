"""netrx.diagnose.classification against scikit-learn, the independent reference."""

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from netrx.diagnose.classification import (
    auc,
    average_precision,
    per_class,
    precision_recall_curve,
    reliability,
    roc_auc,
    roc_curve,
)
from netrx.errors import DataError


def _binary(n=400, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(0.35 * y + rng.normal(0.35, 0.25, n), 0, 1)
    if ties:  # many equal scores: thresholds are the distinct values
        score = np.round(score, 1)
    return y, score


def test_per_class_matches_precision_recall_fscore_support():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 300)
    pred = np.where(rng.random(300) < 0.6, y, rng.integers(0, 4, 300))
    pred[pred == 3] = 2  # class 3 is never predicted: its precision is 0/0 → 0
    got = per_class(y, pred, 5)  # class 4 has no example and no prediction
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=range(5),
                                                     zero_division=0)
    np.testing.assert_allclose(got.precision, p)
    np.testing.assert_allclose(got.recall, r)
    np.testing.assert_allclose(got.f1, f)
    np.testing.assert_array_equal(got.support, s)
    assert got.accuracy == pytest.approx(skm.accuracy_score(y, pred))
    for kind in ("macro", "weighted"):
        ref = skm.precision_recall_fscore_support(y, pred, labels=range(5), average=kind,
                                                  zero_division=0)
        avg = got.average(kind)
        assert [avg["precision"], avg["recall"], avg["f1"]] == pytest.approx(list(ref[:3]))
    rows = got.rows(["a", "b", "c", "d", "e"])
    assert [r["class"] for r in rows][-2:] == ["macro average", "weighted average"]
    assert rows[-1]["support"] == 300


@pytest.mark.parametrize("ties", [False, True])
def test_roc_curve_and_auc_match_sklearn(ties):
    y, score = _binary(ties=ties)
    fpr, tpr, thresholds = roc_curve(y, score)
    ref_fpr, ref_tpr, ref_t = skm.roc_curve(y, score, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr)
    np.testing.assert_allclose(tpr, ref_tpr)
    np.testing.assert_allclose(thresholds[1:], ref_t[1:])
    assert thresholds[0] == np.inf
    assert roc_auc(y, score) == pytest.approx(skm.roc_auc_score(y, score))
    assert auc(fpr, tpr) == pytest.approx(skm.auc(ref_fpr, ref_tpr))


@pytest.mark.parametrize("ties", [False, True])
def test_precision_recall_and_average_precision_match_sklearn(ties):
    y, score = _binary(seed=2, ties=ties)
    precision, recall, thresholds = precision_recall_curve(y, score)
    ref_p, ref_r, ref_t = skm.precision_recall_curve(y, score)
    # scikit-learn runs from full recall down to (recall 0, precision 1); netrx upwards
    np.testing.assert_allclose(precision, ref_p[::-1])
    np.testing.assert_allclose(recall, ref_r[::-1])
    np.testing.assert_allclose(thresholds[1:], ref_t[::-1])
    assert average_precision(y, score) == pytest.approx(skm.average_precision_score(y, score))


def test_perfect_and_inverted_scores():
    y = np.array([0, 0, 1, 1])
    assert roc_auc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert roc_auc(y, [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert average_precision(y, [0.1, 0.2, 0.8, 0.9]) == 1.0


def test_curves_need_both_classes():
    with pytest.raises(DataError, match="both classes"):
        roc_curve(np.ones(5), np.linspace(0, 1, 5))


def test_reliability_matches_calibration_curve_and_ece_formula():
    rng = np.random.default_rng(3)
    n, C = 500, 3
    logits = rng.normal(0, 2, (n, C))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(C, p=p ** 0.7 / (p ** 0.7).sum()) for p in probs])
    rel = reliability(y, probs, bins=10)
    confidence = probs.max(1)
    correct = probs.argmax(1) == y
    acc, conf = calibration_curve(correct, confidence, n_bins=10, strategy="uniform")
    full = rel.count > 0
    np.testing.assert_allclose(rel.accuracy[full], acc)
    np.testing.assert_allclose(rel.confidence[full], conf)
    assert np.isnan(rel.accuracy[~full]).all()
    assert rel.count.sum() == n
    # ECE = Σ_b n_b/n |acc_b − conf_b|, bins (lo, hi] as calibration_curve's
    which = np.searchsorted(np.linspace(0, 1, 11)[1:-1], confidence)
    ece = sum(np.sum(which == b) / n * abs(correct[which == b].mean()
                                            - confidence[which == b].mean())
              for b in range(10) if np.any(which == b))
    assert rel.ece == pytest.approx(ece)


def test_a_calibrated_model_has_a_small_ece_and_an_overconfident_one_a_large():
    rng = np.random.default_rng(4)
    n = 20000
    p1 = rng.uniform(0, 1, n)
    y = (rng.uniform(0, 1, n) < p1).astype(int)  # y ~ Bernoulli(p1): calibrated
    calibrated = reliability(y, np.c_[1 - p1, p1])
    sharp = np.where(p1 > 0.5, 0.999, 0.001)
    overconfident = reliability(y, np.c_[1 - sharp, sharp])
    assert calibrated.ece < 0.02
    assert overconfident.ece > 0.2
