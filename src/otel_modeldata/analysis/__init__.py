"""Reading, joining, scoring and drift of the collected files (the optional ``analysis`` extra).

The collector never imports this package: install ``otel-modeldata[analysis]`` to use it.
"""

from __future__ import annotations

from .baseline import Baseline, CategoricalBaseline, NumericBaseline, baseline
from .detect import drift
from .drift_stats import ChisquareResult, KstestResult
from .find import UnknownModelError
from .join import join
from .partitions import partitions
from .performance import performance, plot_performance
from .read import read
from .result import DriftResult, FeatureDrift
from .sources import SourceError
from .stream import join_to

__all__ = [
    "Baseline",
    "CategoricalBaseline",
    "ChisquareResult",
    "DriftResult",
    "FeatureDrift",
    "KstestResult",
    "NumericBaseline",
    "SourceError",
    "UnknownModelError",
    "baseline",
    "drift",
    "join",
    "join_to",
    "partitions",
    "performance",
    "plot_performance",
    "read",
]
