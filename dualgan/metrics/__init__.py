"""Sample-quality metrics that need no downloads (SPEC.md section 6)."""
from .coverage import CoverageReport, mode_coverage

__all__ = ["CoverageReport", "mode_coverage"]
