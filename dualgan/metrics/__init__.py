"""Sample-quality metrics that need no downloads (SPEC.md section 6)."""
from .coverage import CoverageReport, mode_coverage
from .classifier_score import ClassifierScore, classifier_score
from .distances import FrechetResult, MMDResult, frechet_distance, kernel_mmd
from .cross_testing import ConfusionRates, CrossTestReport, confusion_rates, cross_test

__all__ = ["CoverageReport", "mode_coverage", "ClassifierScore", "classifier_score",
           "FrechetResult", "MMDResult", "frechet_distance", "kernel_mmd",
           "ConfusionRates", "CrossTestReport", "confusion_rates", "cross_test"]
