"""Reading, joining, listing and scoring the collected files (the optional ``analysis`` extra).

The collector never imports this package: install ``otel-modeldata[analysis]`` to use it.
"""

from __future__ import annotations

from .find import UnknownModelError
from .join import join
from .partitions import partitions
from .performance import performance, plot_performance
from .read import read
from .sources import SourceError

__all__ = [
    "SourceError",
    "UnknownModelError",
    "join",
    "partitions",
    "performance",
    "plot_performance",
    "read",
]
