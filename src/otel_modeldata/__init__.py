"""otel_modeldata: collect what ML models see and say in production, the OpenTelemetry way.

``configure()`` once at start-up, ``@collect_io`` on ``run()`` (or the classic
``ModelDataCollector``), and rows land in partitioned CSV files: a local folder by
default, Azure Blob Storage when configured.
"""

from . import lifecycle
from .classic import ModelDataCollector
from .collect import CollectionError, collect_io
from .context import get_request_id, request_id_scope, reset_request_id, set_request_id
from .exporter import ModelDataLogExporter
from .labels import send_labels
from .layout import InvalidNameError
from .middleware import RequestIdASGIMiddleware, RequestIdMiddleware
from .providers import ModelDataHandle, configure
from .settings import ConfigurationError, Settings
from .stats import STATS

# Servers and applications install their SIGTERM handlers after importing us, maybe before a lazy
# configure() on a thread where no handler can be installed: ours goes in front of theirs now too.
lifecycle.install_sigterm_hook()


def stats() -> dict[str, object]:
    """Rows accepted, written, dropped (by reason), failed and unaccounted for, in this process."""
    return STATS.snapshot()


__all__ = [
    "CollectionError",
    "ConfigurationError",
    "InvalidNameError",
    "ModelDataCollector",
    "ModelDataHandle",
    "ModelDataLogExporter",
    "RequestIdASGIMiddleware",
    "RequestIdMiddleware",
    "Settings",
    "collect_io",
    "configure",
    "get_request_id",
    "request_id_scope",
    "reset_request_id",
    "send_labels",
    "set_request_id",
    "stats",
]

__version__ = "0.1.0"
