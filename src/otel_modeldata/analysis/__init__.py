"""Analysis of the collected files (the ``analysis`` extra): baselines, drift and its report."""

from __future__ import annotations

from .baseline import Baseline, CategoricalBaseline, NumericBaseline, baseline
from .detect import drift
from .drift_stats import ChisquareResult, KstestResult
from .result import DriftResult, FeatureDrift

__all__ = [
    "Baseline",
    "CategoricalBaseline",
    "ChisquareResult",
    "DriftResult",
    "FeatureDrift",
    "KstestResult",
    "NumericBaseline",
    "baseline",
    "drift",
]
