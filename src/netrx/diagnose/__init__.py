"""Diagnostics: gradient checking, gradient flow, the bias / variance verdict with the
basic recipe, and learning curves."""

from netrx.diagnose.bias_variance import Diagnosis, bias_variance
from netrx.diagnose.gradcheck import GradCheckWarning, gradcheck, gradcheck_config
from netrx.diagnose.gradcheck_result import (
    GradCheckResult,
    TensorCheck,
    band,
    relative_difference,
)
from netrx.diagnose.gradients import GradientFlag, GradientFlowWarning, GradientMonitor
from netrx.diagnose.learning_curve import LearningCurve, learning_curve
from netrx.diagnose.prescriptions import (
    Change,
    Prescription,
    bias_remedies,
    prescribe,
    variance_remedies,
)
from netrx.diagnose.verdict import MemberVerdict, RunVerdict, diagnose_run

__all__ = [
    "Change",
    "Diagnosis",
    "GradCheckResult",
    "GradCheckWarning",
    "GradientFlag",
    "GradientFlowWarning",
    "GradientMonitor",
    "LearningCurve",
    "MemberVerdict",
    "Prescription",
    "RunVerdict",
    "TensorCheck",
    "band",
    "bias_remedies",
    "bias_variance",
    "diagnose_run",
    "gradcheck",
    "gradcheck_config",
    "learning_curve",
    "prescribe",
    "relative_difference",
    "variance_remedies",
]
