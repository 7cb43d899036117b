"""Bias / variance against a target (Bayes or human-level) error.

With errors as fractions (0.01 = 1 %) and a target error e* (a proxy for the Bayes
error; 0 by default, as in the notes' examples)::

    avoidable bias = train error − e*
    variance       = dev error − train error
    mismatch       = test error − dev error        (when a test error is given)

Verdict: high bias if avoidable bias > ``bias_threshold``; high variance if variance >
``variance_threshold``; both; or good. The thresholds are absolute error points
measured from the target (default 0.02 = 2 points: "train error within 2 points of
the target, dev within 2 points of train"). The notes' table (e* = 0): train 1 % /
dev 11 % is high variance, 15 % / 16 % high bias, 15 % / 30 % both, 0.5 % / 1 %
good; with a target of 15 % (a hard task), 15 % / 16 % is good.

Sampling noise: an error measured on n examples has a standard error √(p(1−p)/n).
When the set sizes are given (classification), a gap counts only if it also exceeds
twice its standard error, e.g. for the variance 2·√(p_t(1−p_t)/n_train +
p_d(1−p_d)/n_dev), so that a 2.6-point gap measured on 800 dev examples at 68 % error
(standard error 1.9 points) is not called high variance.

The remedies (the basic recipe) are in :mod:`netrx.diagnose.prescriptions`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from netrx.errors import ConfigError

#: default thresholds: 2 error points above the target (bias) or between train and dev
BIAS_THRESHOLD = 0.02
VARIANCE_THRESHOLD = 0.02

GOOD, HIGH_BIAS, HIGH_VARIANCE, BOTH = ("good", "high bias", "high variance",
                                       "high bias and high variance")


def _check_error(name: str, value: float | None, optional: bool = False) -> float | None:
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name} is missing; the verdict needs the train and dev errors")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ConfigError(f"{name}={value!r} must be a finite error ≥ 0 (a fraction: 0.05 = 5 %)")
    return v


def _var(p: float, n: int | None) -> float:
    """Variance of an error rate p measured on n examples (0 when n is unknown)."""
    if not n:
        return 0.0
    p = min(max(p, 0.0), 1.0)
    return p * (1.0 - p) / n


@dataclass(frozen=True)
class Diagnosis:
    """The numbers and the verdict; see the module docstring for the formulas."""

    train_error: float
    dev_error: float
    test_error: float | None
    target_error: float
    bias_threshold: float
    variance_threshold: float
    mismatch_threshold: float
    n_train: int | None = None
    n_dev: int | None = None
    n_test: int | None = None

    @property
    def avoidable_bias(self) -> float:
        """train error − target error."""
        return self.train_error - self.target_error

    @property
    def variance(self) -> float:
        """dev error − train error."""
        return self.dev_error - self.train_error

    @property
    def mismatch(self) -> float | None:
        """test error − dev error (None without a test error)."""
        return None if self.test_error is None else self.test_error - self.dev_error

    # twice the standard errors (0 without set sizes)
    @property
    def bias_noise(self) -> float:
        return 2 * math.sqrt(_var(self.train_error, self.n_train))

    @property
    def variance_noise(self) -> float:
        return 2 * math.sqrt(_var(self.train_error, self.n_train)
                             + _var(self.dev_error, self.n_dev))

    @property
    def mismatch_noise(self) -> float:
        if self.test_error is None:
            return 0.0
        return 2 * math.sqrt(_var(self.dev_error, self.n_dev) + _var(self.test_error, self.n_test))

    @property
    def bias_limit(self) -> float:
        """The avoidable bias above which bias is high: max(threshold, 2·SE)."""
        return max(self.bias_threshold, self.bias_noise)

    @property
    def variance_limit(self) -> float:
        return max(self.variance_threshold, self.variance_noise)

    @property
    def mismatch_limit(self) -> float:
        return max(self.mismatch_threshold, self.mismatch_noise)

    @property
    def high_bias(self) -> bool:
        return self.avoidable_bias > self.bias_limit

    @property
    def high_variance(self) -> bool:
        return self.variance > self.variance_limit

    @property
    def dev_test_mismatch(self) -> bool:
        return self.mismatch is not None and self.mismatch > self.mismatch_limit

    @property
    def verdict(self) -> str:
        """``good``, ``high bias``, ``high variance`` or ``high bias and high variance``."""
        if self.high_bias and self.high_variance:
            return BOTH
        if self.high_bias:
            return HIGH_BIAS
        if self.high_variance:
            return HIGH_VARIANCE
        return GOOD

    @property
    def focus(self) -> str | None:
        """``bias`` or ``variance``: the larger of the problems found (None when good)."""
        if self.high_bias and self.high_variance:
            return "bias" if self.avoidable_bias >= self.variance else "variance"
        return "bias" if self.high_bias else "variance" if self.high_variance else None

    def explain(self) -> str:
        """The verdict in a sentence or two, with the numbers."""
        def limit(threshold: float, noise: float) -> str:
            return f"{threshold:.2%}" if noise <= threshold else \
                f"{noise:.2%}, twice the standard error"

        parts = [f"train {self.train_error:.2%}, dev {self.dev_error:.2%}"
                 + (f", test {self.test_error:.2%}" if self.test_error is not None else "")
                 + f"; target {self.target_error:.2%}",
                 f"avoidable bias {self.avoidable_bias:+.2%} ({'>' if self.high_bias else '≤'} "
                 f"{limit(self.bias_threshold, self.bias_noise)})",
                 f"variance {self.variance:+.2%} ({'>' if self.high_variance else '≤'} "
                 f"{limit(self.variance_threshold, self.variance_noise)})"]
        text = f"{self.verdict}: " + "; ".join(parts)
        if self.verdict == BOTH:
            text += f". The larger problem is {self.focus}"
        if self.dev_test_mismatch:
            text += (f". The test error is {self.mismatch:.2%} above the dev error: dev and "
                     "test may come from different distributions, or the dev set has been "
                     "overfitted by choosing on it; get a larger dev set from the test "
                     "distribution")
        if self.avoidable_bias < -self.bias_limit:
            text += (". The train error is below the target: the target (Bayes / human "
                     "proxy) may be set too high")
        return text

    def as_dict(self) -> dict[str, Any]:
        keys = ("verdict", "focus", "train_error", "dev_error", "test_error", "target_error",
                "avoidable_bias", "variance", "mismatch", "high_bias", "high_variance",
                "dev_test_mismatch", "bias_threshold", "variance_threshold",
                "mismatch_threshold", "bias_limit", "variance_limit", "mismatch_limit",
                "n_train", "n_dev", "n_test")
        return {k: getattr(self, k) for k in keys}


def _check_size(name: str, n: int | None) -> int | None:
    if n is None:
        return None
    if int(n) < 1:
        raise ConfigError(f"{name}={n!r} must be ≥ 1 examples (or None when unknown)")
    return int(n)


def bias_variance(train_error: float, dev_error: float, test_error: float | None = None, *,
                  target_error: float = 0.0, bias_threshold: float = BIAS_THRESHOLD,
                  variance_threshold: float = VARIANCE_THRESHOLD,
                  mismatch_threshold: float | None = None, n_train: int | None = None,
                  n_dev: int | None = None, n_test: int | None = None) -> Diagnosis:
    """Diagnose from the errors (fractions). ``mismatch_threshold`` defaults to
    ``variance_threshold``; the set sizes ``n_*`` (classification error rates only)
    raise each limit to twice the standard error of the gap when that is larger."""
    tr = _check_error("train_error", train_error)
    dv = _check_error("dev_error", dev_error)
    te = _check_error("test_error", test_error, optional=True)
    tg = _check_error("target_error", target_error)
    mismatch_threshold = variance_threshold if mismatch_threshold is None else mismatch_threshold
    for name, v in (("bias_threshold", bias_threshold),
                    ("variance_threshold", variance_threshold),
                    ("mismatch_threshold", mismatch_threshold)):
        if not (math.isfinite(float(v)) and float(v) >= 0):
            raise ConfigError(f"{name}={v!r} must be a finite number ≥ 0 of error points "
                              "(0.02 = 2 points)")
    return Diagnosis(tr, dv, te, tg, float(bias_threshold), float(variance_threshold),
                     float(mismatch_threshold), _check_size("n_train", n_train),
                     _check_size("n_dev", n_dev), _check_size("n_test", n_test))
