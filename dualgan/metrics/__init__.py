"""Sample-quality metrics that need no downloads (SPEC.md section 6)."""
from .coverage import CoverageReport, mode_coverage
from .classifier_score import ClassifierScore, classifier_score

__all__ = ["CoverageReport", "mode_coverage", "ClassifierScore", "classifier_score"]
