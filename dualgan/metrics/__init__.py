"""Sample-quality metrics that need no downloads (eqs. (6.3)-(6.7) of the theory page, docs/theory.md)."""
from .coverage import CoverageReport, mode_coverage
from .classifier_score import ClassifierScore, classifier_score
from .distances import FrechetResult, MMDResult, frechet_distance, kernel_mmd
from .cross_testing import ConfusionRates, CrossTestReport, confusion_rates, cross_test

__all__ = ["CoverageReport", "mode_coverage", "ClassifierScore", "classifier_score",
           "FrechetResult", "MMDResult", "frechet_distance", "kernel_mmd",
           "ConfusionRates", "CrossTestReport", "confusion_rates", "cross_test"]
