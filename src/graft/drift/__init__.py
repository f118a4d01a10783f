"""Drift: notice when the data a saved model meets moves away from its training data, and re-adapt.

Example:
    >>> from graft.drift import check_drift, readapt
    >>> # report = check_drift("models/fashion", "incoming/"); report.severity, report.mmd_p_value
    >>> # if report.drifted: readapt("models/fashion", "incoming/", out="models/fashion-v2")
"""

from graft.drift.detect import ClassShift, DriftConfig, DriftReport, check_drift, compare, severity_of
from graft.drift.readapt import labelled_source, readapt

__all__ = ["ClassShift", "DriftConfig", "DriftReport", "check_drift", "compare", "labelled_source", "readapt",
           "severity_of"]
